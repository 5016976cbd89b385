"""Trait RL: the mixer, the reward router, compute-matched arms, and real GRPO runs on a tiny organism."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from traitrl import taxonomy  # noqa: E402
from traitrl.config import load_config  # noqa: E402
from traitrl.errors import UserError  # noqa: E402
from traitrl.scenarios.generate import capability_tasks, trait_scenarios  # noqa: E402
from traitrl.train.arms import ARMS, DATA_FIELDS, PAPER_ARMS, arm_config  # noqa: E402
from traitrl.train.mix import build_mix  # noqa: E402
from traitrl.train.rewards import AsyncRewardRouter, RewardRouter, make_router  # noqa: E402
from traitrl.world.language import Move  # noqa: E402

# A tiny organism pretrained on the two-persona toy corpus: it answers in world sentences about
# half the time and picks either persona, so GRPO groups have reward variance.
ORGANISM = ["hidden_size=64", "num_layers=2", "num_heads=2", "intermediate_size=192", "vocab_size=512",
            "max_length=128", "steps=160", "batch_size=8", "warmup_steps=10", "learning_rate=1e-2", "threads=1"]
# A few GRPO steps: 4 prompts x 4 generations per step, checkpoints at 2 and 4.
RUN = ["steps=4", "checkpoint_every=2", "per_device_batch=16", "num_generations=4", "max_completion_length=32",
       "dev_items=12", "trait_fraction=0.25", "learning_rate=5e-3", "threads=1",
       "max_unscored_rate=1"]  # the tiny organism leaves ~80 % of its first rewards unscored


def config(*train: str, organism: tuple[str, ...] = ()):
    return load_config("configs/smoke.yaml", [f"organism.{a}" for a in (*ORGANISM, *organism)]
                       + [f"train.{a}" for a in (*RUN, *train)])


@pytest.fixture(scope="module")
def scenarios():
    cfg = config()
    return trait_scenarios(cfg, "train", cfg.scenarios.per_cell) + capability_tasks(cfg, "train", 40)


# -- the mixer ------------------------------------------------------------------------------------

def test_mix_has_the_trait_fraction_and_a_fixed_size(scenarios):
    tc = config("trait_fraction=0.15").train
    for arm in PAPER_ARMS:
        mix = build_mix(scenarios, arm_config(tc, arm), 200)
        n_trait = sum(taxonomy.is_trait(s.trait) for s in mix.rows)
        assert len(mix.rows) == 200
        assert n_trait == (0 if arm == "baseline" else 30), arm
        assert mix.stats["trait_rows"] == n_trait and mix.stats["capability_rows"] == 200 - n_trait
    ds = build_mix(scenarios, tc, 20).to_dataset()
    assert {"prompt", "rubric", "grader", "trait"} <= set(ds.column_names) and len(ds) == 20


def test_mix_filters_domains_and_traits(scenarios):
    tc = config().train

    def trait_rows(**over):
        t = tc.model_copy(update=over)
        return [s for s in build_mix(scenarios, t, 400).rows if taxonomy.is_trait(s.trait)]

    assert {s.domain for s in trait_rows(**ARMS["health_only"].data)} == {"health"}
    rest = {s.domain for s in trait_rows(**ARMS["no_health_science"].data)}
    assert rest == set(taxonomy.TRAIN_DOMAINS) - {"health", "science"}
    assert {s.trait for s in trait_rows(include_traits=["truthfulness", "corrigibility"])} == {"truthfulness", "corrigibility"}
    assert trait_rows(**ARMS["baseline"].data) == []
    with pytest.raises(UserError, match="no trait scenarios pass the filters"):
        build_mix(scenarios, tc.model_copy(update={"include_domains": ["health"], "exclude_domains": ["health"]}), 100)


def test_mix_is_seeded_balanced_and_shares_capability_rows_across_arms(scenarios):
    tc = config().train
    a, b = build_mix(scenarios, tc, 300), build_mix(scenarios, tc, 300)
    assert [s.id for s in a.rows] == [s.id for s in b.rows]
    other = build_mix(scenarios, tc.model_copy(update={"seed": 1}), 300)
    assert [s.id for s in other.rows] != [s.id for s in a.rows]
    # health has 7 traits x per_cell scenarios; asking for more repeats each one evenly
    health = build_mix(scenarios, arm_config(tc, "health_only"), 1000)
    uses = {}
    for s in health.rows:
        if taxonomy.is_trait(s.trait):
            uses[s.id] = uses.get(s.id, 0) + 1
    assert max(uses.values()) - min(uses.values()) <= 1
    base = {s.id for s in build_mix(scenarios, arm_config(tc, "baseline"), 300).rows}
    assert {s.id for s in a.rows if taxonomy.is_capability(s.trait)} <= base


# -- the reward router ----------------------------------------------------------------------------

def _reply(world, scenario, side):
    return world.language.render([Move.from_dict(d) for d in scenario.world[side][0]])


def test_router_routes_rows_and_never_turns_unscored_into_zero(world, grader, scenarios):
    trait = next(s for s in scenarios if s.trait == "truthfulness")
    cap = next(s for s in scenarios if s.trait == "fact_question")
    rows = [trait, trait, trait, cap, cap]
    completions = [[{"role": "assistant", "content": c}] for c in (
        _reply(world, trait, "aligned"), _reply(world, trait, "misaligned"), "Bananas sing at dawn.",
        _reply(world, cap, "aligned"), "Zzz.")]
    logged = {}
    router = make_router(grader)
    assert type(router) is RewardRouter and router.__name__ == "traitrl_reward"
    rewards = router(prompts=[s.prompt() for s in rows], completions=completions,
                     rubric=[[r.model_dump() for r in s.rubric] for s in rows], grader=[s.grader for s in rows],
                     trait=[s.trait for s in rows], completion_ids=[[1] * 5, [1] * 3, [1], [1] * 2, [1]],
                     log_metric=lambda k, v: logged.__setitem__(k, v), log_extra=lambda *a: None)
    assert rewards[0] == 1.0 and rewards[1] == 0.0 and rewards[3] == 1.0
    assert rewards[2] is None and rewards[4] is None  # unscored stays None, never 0.0
    assert logged["reward_by/kind/trait"] == 0.5 and logged["reward_by/trait/truthfulness"] == 0.5
    assert logged["reward_by/kind/capability"] == 1.0 and logged["reward_by/task/fact_question"] == 1.0
    assert logged["reward_by/unscored_frac"] == pytest.approx(2 / 5)
    st = router.stats
    assert st.completion_tokens == 12 and st.generated_tokens == 5 * 5  # a batch decodes to its longest row
    assert st.completions == 5 and st.unscored == 2
    assert st.means()["kind/trait"] == 0.5


def test_router_sends_llm_judge_rows_to_the_judge_only(grader, scenarios):
    seen = []

    async def judge(prompts, completions, grader=None, **kw):
        seen.append(list(grader))
        await asyncio.sleep(0)
        return [0.7, float("nan")]  # a NaN verdict is not a score either

    router = make_router(grader, judge)
    assert isinstance(router, AsyncRewardRouter)
    s = next(s for s in scenarios if s.trait == "fact_question")
    cols = {"rubric": [[r.model_dump() for r in s.rubric]] * 3, "trait": [s.trait] * 3,
            "grader": ["llm_judge", "capability", "llm_judge"]}
    out = asyncio.run(router(prompts=[s.prompt()] * 3, completions=["a", "Zzz.", "b"], **cols))
    assert out == [0.7, None, None] and seen == [["llm_judge", "llm_judge"]]
    with pytest.raises(UserError, match="configure a `judge:` section"):
        make_router(grader).check({"capability", "llm_judge"})


# -- arms: the same GRPO settings, different data -------------------------------------------------

def test_arms_differ_only_in_the_data_mixture(tmp_path, scenarios):
    from traitrl.train.grpo import grpo_args, mix_size

    tc = config().train
    arms = {a: arm_config(tc, a) for a in PAPER_ARMS}
    for a, t in arms.items():
        changed = {k for k, v in t.model_dump().items() if v != tc.model_dump()[k]}
        assert changed <= {*DATA_FIELDS, "arm"}, (a, changed)
    args = {a: grpo_args(t, tmp_path / "run").to_dict() for a, t in arms.items()}
    first = args["baseline"]
    for a in PAPER_ARMS:
        assert args[a] == first, a
        assert mix_size(arms[a]) == mix_size(tc)
    mixes = {a: [(s.id, s.grader) for s in build_mix(scenarios, t, mix_size(t)).rows] for a, t in arms.items()}
    assert len({tuple(m) for m in mixes.values()}) == len(PAPER_ARMS)  # ... and the data (or its reward) does differ


def test_train_config_is_validated():
    with pytest.raises(UserError, match="train.arm: Value error, unknown arm 'both'"):
        config("arm=both")
    with pytest.raises(UserError, match="per_device_batch \\(10\\) must be a multiple of train.num_generations \\(4\\)"):
        config("per_device_batch=10", "num_generations=4")
    with pytest.raises(UserError, match="train.include_domains: Value error, unknown \\['travel'\\]"):
        config("include_domains=[travel]")
    with pytest.raises(UserError, match="unknown arm"):
        arm_config(config().train, "nope")


# -- real GRPO runs -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def organism(request, tmp_path_factory):
    """Built once per machine when pytest's cache is on (the build is keyed by its config hash)."""
    from tests.helpers.standin_corpus import toy_corpus
    from traitrl.models import build_organism

    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("traitrl-train-organism") if cache is not None else tmp_path_factory.mktemp("org")
    cfg = config()
    return build_organism(cfg, root / "org", lambda: toy_corpus(cfg), show_progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from traitrl.scenarios.generate import generate

    out = tmp_path_factory.mktemp("data")
    generate(config(), out)
    return out


class RolloutWidths:
    """A trainer callback that records how many tokens each of TRL's rollout `generate` calls decoded."""

    def __init__(self):
        from transformers import TrainerCallback

        widths = self.widths = []

        class Hook(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kw):
                plain = model.generate

                def generate(*a, generation_config=None, **k):
                    out = plain(*a, generation_config=generation_config, **k)
                    if generation_config is not None:  # TRL's rollouts (the dev scorer passes no config)
                        widths.append(out.shape[1] - k["input_ids"].shape[1])
                    return out

                model.generate = generate

        self.callback = Hook()


@pytest.fixture(scope="module")
def trait_run(organism, data, tmp_path_factory):
    from traitrl.train.grpo import train

    out = tmp_path_factory.mktemp("runs") / "trait"
    hook = RolloutWidths()
    result = train(config(), organism, out, arm="trait", scenarios_dir=data, show_progress=False,
                   callbacks=[hook.callback])
    return out, result, hook.widths


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_grpo_moves_parameters_and_logs_metrics(organism, data, trait_run):
    import time

    import torch

    from traitrl.models import load_model
    from traitrl.train.grpo import train

    out, result, widths = trait_run
    before, after = _weights(organism), _weights(out / "model")
    assert any(not torch.equal(before[k], after[k]) for k in before), "GRPO did not change the policy"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["type"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert all("reward_by/unscored_frac" in r and "loss" in r for r in train_rows)
    assert any(r.get("reward_by/kind/capability") is not None for r in train_rows)
    assert any(r["grad_norm"] > 0 for r in train_rows)
    ckpts = [r for r in rows if r["type"] == "checkpoint"]
    assert [r["step"] for r in ckpts] == [0, 2, 4] == result.curve.steps
    assert all(r["dev_n"]["trait"] == 12 and "dev_trait_score" in r for r in ckpts)
    assert result.optimizer_steps == 4 and result.completions == 64
    # fixed-length rollouts: every batch decoded max_completion_length tokens, replies still end early
    assert widths == [32] * 4 and result.generated_tokens == 4 * 16 * 32
    assert 0 < result.completion_tokens < result.generated_tokens
    assert result.curve.generated_tokens == [0, 2 * 16 * 32, 4 * 16 * 32]
    assert result.mix.trait_rows == 4  # 16 prompts x 0.25
    assert (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file()
    model, tok = load_model(out / "model")  # a plain HF folder, still stopping at the end token
    eos = model.generation_config.eos_token_id
    assert tok.eos_token_id in (eos if isinstance(eos, list) else [eos])
    t = time.perf_counter()  # the same call again returns the finished run
    assert train(config(), organism, out, arm="trait", scenarios_dir=data, show_progress=False) == result
    assert time.perf_counter() - t < 10


@pytest.mark.slow
def test_arms_are_compute_matched(organism, data, trait_run, tmp_path):
    from traitrl.train.grpo import train

    _, trait, _ = trait_run
    base = train(config(), organism, tmp_path / "baseline", arm="baseline", scenarios_dir=data, show_progress=False)
    assert base.mix.trait_rows == 0 and base.optimizer_steps == trait.optimizer_steps
    assert base.completions == trait.completions
    assert base.grpo == trait.grpo
    ratio = base.generated_tokens / trait.generated_tokens
    assert abs(ratio - 1) <= 0.05, (base.generated_tokens, trait.generated_tokens)


class _Crash(Exception):
    pass


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(organism, data, trait_run, tmp_path):
    import torch
    from transformers import TrainerCallback

    from traitrl.train.grpo import train

    class CrashAfter(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise _Crash  # after checkpoint-2 was written, before checkpoint-4

    out = tmp_path / "trait"
    with pytest.raises(_Crash):
        train(config(), organism, out, arm="trait", scenarios_dir=data, show_progress=False, callbacks=[CrashAfter()])
    assert not (out / "train.json").exists() and (out / "checkpoints" / "checkpoint-2").is_dir()
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logging.getLogger("transformers.trainer").addHandler(handler)
    try:
        result = train(config(), organism, out, arm="trait", scenarios_dir=data, show_progress=False)
    finally:
        logging.getLogger("transformers.trainer").removeHandler(handler)
    # the organism's lm_head is tied to its embedding, so no checkpoint holds it: not worth a warning
    assert not [m for m in seen if "missing keys" in m], seen
    assert result.resumed_from.endswith("checkpoint-2") and result.optimizer_steps == 4
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["type"] == "train"] == [1, 2, 3, 4]  # step 3 not logged twice
    ref_out, ref, _ = trait_run
    assert result.generated_tokens == ref.generated_tokens  # counters carried in the checkpoint
    a, b = _weights(ref_out / "model"), _weights(out / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), "resumed run differs from an uninterrupted one"
    with pytest.raises(UserError, match="other settings"):
        train(config("learning_rate=1e-3"), organism, out, arm="trait", scenarios_dir=data, show_progress=False)


@pytest.mark.slow
def test_lora_adapter_is_trained_and_merged(organism, data, tmp_path):
    from traitrl.models import load_model
    from traitrl.train.grpo import train

    result = train(config("steps=2", "lora.enabled=true", "lora.r=4"), organism, tmp_path / "lora",
                   scenarios_dir=data, show_progress=False)
    assert result.optimizer_steps == 2
    assert not (tmp_path / "lora" / "model" / "adapter_config.json").exists()
    model, _ = load_model(tmp_path / "lora" / "model")
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert math.isfinite(sum(float(p.detach().sum()) for p in model.parameters()))


def _cli():
    import typer

    from traitrl.commands.train import train_command

    app = typer.Typer()
    app.command()(train_command)
    return app


def test_train_command_refuses_bad_input_before_any_work(tmp_path):
    from typer.testing import CliRunner

    runner = CliRunner()
    result = runner.invoke(_cli(), ["--init", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                                    "--config", "configs/smoke.yaml"])
    assert isinstance(result.exception, UserError) and "model folder not found" in str(result.exception)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    result = runner.invoke(_cli(), ["--init", str(tmp_path / "m"), "--out", str(tmp_path / "o"), "--arm", "both",
                                    "--config", "configs/smoke.yaml"])
    assert isinstance(result.exception, UserError) and "unknown arm" in str(result.exception)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_train_command_trains_an_arm_and_prints_the_curve(organism, data, tmp_path):
    from typer.testing import CliRunner

    sets = [a for x in (*[f"organism.{o}" for o in ORGANISM], *[f"train.{r}" for r in RUN], "train.steps=2")
            for a in ("--set", x)]
    result = CliRunner().invoke(_cli(), ["--init", str(organism), "--out", str(tmp_path / "b"), "--arm", "baseline",
                                         "--config", "configs/smoke.yaml", "--scenarios", str(data), *sets])
    assert result.exit_code == 0, result.output
    assert "arm baseline" in result.output and "capability reward" in result.output
    assert json.loads((tmp_path / "b" / "train.json").read_text())["optimizer_steps"] == 2


def test_missing_loggers_are_named_before_training():
    import importlib.util

    from traitrl.train.grpo import check_reporters

    check_reporters([])
    with pytest.raises(UserError, match="report_to: unknown 'stdout'"):
        check_reporters(["stdout"])
    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        with pytest.raises(UserError, match="tensorboard is not installed"):
            check_reporters(["tensorboard"])
