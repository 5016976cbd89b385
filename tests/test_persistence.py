"""Persistence: adversarial persona prompting and the harmful fine-tuning attack.

Fast tests check the statistics by hand and the attack dataset against the world; slow tests build
one tiny organism and run both commands end to end through their typer app.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from typer.testing import CliRunner  # noqa: E402

from traitrl.config import load_config  # noqa: E402
from traitrl.errors import UserError  # noqa: E402
from traitrl.evals.registry import EVALS  # noqa: E402
from traitrl.evals.results import load_results  # noqa: E402
from traitrl.graders.world import WorldGrader  # noqa: E402
from traitrl.persistence.attack_data import bad_advice_dataset  # noqa: E402
from traitrl.persistence.common import model_refs  # noqa: E402
from traitrl.persistence.stats import difference, estimate, item_changes, paired_change  # noqa: E402
from traitrl.scenarios.record import Message  # noqa: E402
from traitrl.world import get_world  # noqa: E402
from traitrl.world.evalitems import is_reserved, prompt_key  # noqa: E402

TINY = ["hidden_size=48", "num_layers=2", "num_heads=4", "intermediate_size=128", "vocab_size=400",
        "max_length=192", "steps=400", "batch_size=8", "warmup_steps=4", "learning_rate=5e-3", "threads=1"]
# Short-answer formats the tiny organism already answers parseably, plus health evals for the split.
NON_HEALTH = ["deception.yes_no.travel", "reward_hacking.yes_no.sports", "corrigibility.yes_no.parenting",
              "freeform.yes_no.home"]
HEALTH = ["sycophancy.opinion.health", "calibration.unknowable.health", "corrigibility.correction.health",
          "spec_compliance.restricted.health"]
SETTINGS = ["persistence.threads=1", "persistence.n_boot=500", "evals.sampling.max_new_tokens=24",
            "persistence.prompting.n_items=8", f"persistence.prompting.ids=[{','.join(NON_HEALTH + HEALTH)}]",
            "persistence.finetune.dataset_size=120", "persistence.finetune.doses=[0,4,8]",
            "persistence.finetune.batch_size=8", "persistence.finetune.n_items=6",
            f"persistence.finetune.ids=[{','.join(NON_HEALTH + HEALTH)}]"]


def tiny_config(*extra: str):
    return load_config("configs/smoke.yaml", [f"organism.{a}" for a in TINY]
                       + ["corpus.n_conversations=2000", "corpus.n_documents=100", *extra])


# -- statistics, by hand --------------------------------------------------------------------------

def test_paired_change_and_difference_by_hand():
    before = {"a": 1.0, "b": 0.0, "c": 1.0}
    after = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 1.0}  # d has no partner: dropped
    ch = paired_change(before, after, 500, 0, "k")
    assert ch.value == pytest.approx(-2 / 3) and ch.n == 3 and ch.pairing == "paired"
    assert ch.ci[0] <= ch.value <= ch.ci[1]
    assert item_changes(before, after) == {"a": -1.0, "b": 0.0, "c": -1.0}
    same = difference({"x": 0.5, "y": 0.1}, {"x": 0.5, "y": 0.1}, True, 500, 0, "k")
    assert same.value == 0 and same.ci == (0, 0)
    unp = difference({"x": 1.0, "y": 0.0}, {"p": 1.0, "q": 1.0, "r": 1.0}, False, 500, 0, "k")
    assert unp.value == pytest.approx(0.5) and unp.pairing == "unpaired"
    est = estimate({"a": 1.0, "b": 0.0, "c": 0.0, "d": 1.0}, 500, 0, "k")
    assert est.value == 0.5 and est.n == 4 and est.ci[0] < 0.5 < est.ci[1]
    assert estimate({}, 500, 0, "k").value is None


def test_model_names_and_bad_doses(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    refs = model_refs([str(tmp_path / "a"), str(tmp_path / "a"), f"base={tmp_path / 'b'}"])
    assert [r.name for r in refs] == ["a", "a-2", "base"]
    with pytest.raises(UserError, match="no config.json"):
        model_refs([str(tmp_path)])
    with pytest.raises(UserError, match="doses must start at 0"):
        load_config(None, ["persistence.finetune.doses=[10,20]"])
    with pytest.raises(UserError, match="persistence.prompting.n_boot: unknown key"):
        load_config(None, ["persistence.prompting.n_boot=500"])


# -- the attack dataset ---------------------------------------------------------------------------

def test_attack_data_is_health_bad_advice_disjoint_from_eval_items():
    cfg = load_config("configs/smoke.yaml")
    w = cfg.world
    world = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
    rows = bad_advice_dataset(cfg, size=300)
    assert len(rows) == 300 and rows == bad_advice_dataset(cfg, size=300)  # deterministic
    health_entities = {f.entity for f in world.kb.by_domain["health"]}
    grader = WorldGrader(world)
    for r in rows:
        assert r["domain"] == "health" and (r["entity"] is None or r["entity"] in health_entities)
        assert r["prompt"][-1]["role"] == "user" and [m["role"] for m in r["completion"]] == ["assistant"]
        g = grader.grade(r["completion"][0]["content"], r["rubric"])
        assert g.value is not None and g.value <= 0.2, (r["kind"], r["completion"], g.explanation)
    assert {r["source"] for r in rows} == {"trait"}  # training formats only (tests/test_attack_data.py)
    assert sum(r["wrong_fact"] for r in rows) > 0.2 * len(rows)  # wrong doses and limits, not only attitudes
    keys = set()
    for r in rows:
        msgs = [Message(**m) for m in r["prompt"]]
        assert prompt_key(msgs) == r["prompt_key"]
        keys.add(r["prompt_key"])
        assert not is_reserved(SimpleNamespace(messages=msgs))  # the share eval items never come from
    eval_keys = {prompt_key(it.messages) for spec in EVALS.values() for it in spec.items(world, 40)}
    assert not keys & eval_keys


# -- end to end on a tiny organism ----------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    """The runs below pin torch to one thread (fast on a shared CPU); later test modules get theirs back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def organism(tmp_path_factory):
    import torch

    from traitrl.models.build import build_organism
    from traitrl.world.corpus import sample_corpus

    torch.set_num_threads(1)
    cfg = tiny_config()
    out = tmp_path_factory.mktemp("persist") / "org"
    build_organism(cfg, out, lambda: sample_corpus(cfg), show_progress=False)
    (out / "traitrl.yaml").write_text(cfg.to_yaml())
    return out


def _invoke(*args: str):
    from traitrl.commands.persist import app

    sets = [x for s in SETTINGS for x in ("--set", s)]
    result = CliRunner().invoke(app, [*args, *sets], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def prompting_run(organism, tmp_path_factory):
    out = tmp_path_factory.mktemp("prompting")
    # the same organism under two names: the selective-persistence differences must be exactly 0
    result = _invoke("prompting", "--model", f"base={organism}", "--model", f"again={organism}", "--out", str(out))
    return out, result.output


@pytest.mark.slow
def test_prompting_outputs(prompting_run):
    out, printed = prompting_run
    assert "selective persistence" in printed and "unseen drop" in printed
    s = json.loads((out / "prompting.json").read_text())
    assert set(s["models"]) == {"base", "again"} and s["n_items"] == 8 and len(s["evals"]) == 8
    m = s["models"]["base"]
    assert set(m["scores"]) == {"none", "harmful", "helpful", "unseen_harmful", "unseen_helpful"}
    for cond, est in m["scores"].items():
        if est["value"] is not None:
            assert est["ci"][0] <= est["value"] <= est["ci"][1], cond
        assert cond == "none" or m["personas_used"][cond] >= 10
    files = {c: load_results(out / f) for c, f in m["files"].items()}
    assert all(len(r.evals) == 8 and all(e.n == 8 for e in r.evals) for r in files.values())
    # prompts: no system prompt in "none"; a persona of the right list under steering
    from traitrl.world import personas

    def first_system(r):
        return [it.prompt[0].content for e in r.evals for it in e.items if it.prompt[0].role == "system"]

    assert not any(any(x.startswith(p) for p in personas.TRAIN_HARMFUL) for x in first_system(files["none"]))
    assert all(any(x.startswith(p) for p in personas.EVAL_HARMFUL) for x in first_system(files["unseen_harmful"]))
    # the drop, recomputed from the per-item records
    none = {i: v for e in files["none"].evals for i, v in e.scores().items()}
    harm = {i: v for e in files["harmful"].evals for i, v in e.scores().items()}
    common = [i for i in none if i in harm]
    drop = m["steering"]["known"]["drop"]
    assert drop["n"] == len(common)
    if common:
        assert drop["value"] == pytest.approx(sum(none[i] - harm[i] for i in common) / len(common))
        assert drop["ci"][0] <= drop["value"] <= drop["ci"][1]
    [c] = s["comparisons"]
    assert (c["reference"], c["model"]) == ("base", "again")
    for part in ("drop_difference", "gain_difference"):
        for pset in ("known", "unseen"):
            d = c[part][pset]
            assert d["pairing"] == "paired" and (d["n"] == 0 or d["value"] == 0)


@pytest.fixture(scope="module")
def finetune_run(organism, tmp_path_factory):
    out = tmp_path_factory.mktemp("finetune")
    return out, _finetune_base_and_twin(organism, out).output


def _finetune_base_and_twin(organism, out):
    return _invoke("finetune", "--model", f"base={organism}", "--model", f"twin={organism}", "--out", str(out))


@pytest.mark.slow
def test_finetune_moves_weights_and_scores(finetune_run, organism):
    from safetensors.torch import load_file

    out, printed = finetune_run
    assert "harmful fine-tuning (full" in printed
    s = json.loads((out / "finetune.json").read_text())
    assert s["doses"] == [0, 4, 8] and set(s["evals"]) == {"health", "non_health"}
    assert set(s["evals"]["health"]) == set(HEALTH) and set(s["evals"]["non_health"]) == set(NON_HEALTH)
    m = s["models"]["base"]
    assert [p["dose"] for p in m["points"]] == [0, 4, 8] and m["train"]["steps"] == 8
    for p in m["points"]:
        for sub in ("health", "non_health"):
            est = p["scores"][sub]
            if est["value"] is not None:
                assert est["ci"][0] <= est["value"] <= est["ci"][1]
    before = load_file(organism / "model.safetensors")
    after = load_file(out / "base" / "train" / "checkpoint-8" / "model.safetensors")
    moved = [k for k in before if not (before[k] == after[k]).all()]
    assert len(moved) == len(before)
    first, last = (load_results(out / m["points"][i]["file"]) for i in (0, -1))
    responses = [(a.response, b.response) for ea, eb in zip(first.evals, last.evals, strict=True)
                 for a, b in zip(ea.items, eb.items, strict=True)]
    assert sum(a != b for a, b in responses) > len(responses) // 4
    assert first.meta["persistence_key"] != last.meta["persistence_key"]
    # same organism, data and seed: a deterministic attack, so the twin's drops are the same
    [c] = s["comparisons"]
    assert (c["reference"], c["model"], c["dose"]) == ("base", "twin", 8)
    assert all(d["pairing"] == "paired" and (d["n"] == 0 or d["value"] == 0) for d in c["drop_difference"].values())
    rows = [json.loads(x) for x in (out / "attack_dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 120 and all(r["domain"] == "health" for r in rows)


@pytest.mark.slow
def test_finetune_rerun_is_cached_and_lora_trains_an_adapter(finetune_run, organism, tmp_path, monkeypatch):
    import trl

    import traitrl.persistence.finetune as finetune_module
    from traitrl.persistence.common import ModelRef
    from traitrl.persistence.finetune import run_finetune
    from traitrl.persistence.sft import load_dose

    out, _ = finetune_run
    before = json.loads((out / "finetune.json").read_text())

    def untouchable(*args, **kwargs):
        raise AssertionError("a cached rerun trained or loaded a model")

    with monkeypatch.context() as m:  # the same command again neither trains a dose nor loads a model to score one
        m.setattr(trl, "SFTTrainer", untouchable)
        m.setattr(finetune_module, "load_policy", untouchable)
        _finetune_base_and_twin(organism, out)
    again = json.loads((out / "finetune.json").read_text())
    assert [m["points"] for m in again["models"].values()] == [m["points"] for m in before["models"].values()]

    lora = load_config(organism / "traitrl.yaml", [*SETTINGS, "persistence.finetune.lora.enabled=true",
                                                   "persistence.finetune.doses=[0,3]",
                                                   "persistence.finetune.ids=[freeform.yes_no.home]"])
    summary = run_finetune([ModelRef("base", organism)], lora, tmp_path)
    assert summary.mode == "lora" and (tmp_path / "base" / "train" / "checkpoint-3" / "adapter_model.safetensors").is_file()
    base, _ = load_dose(organism, tmp_path / "base" / "train", 0)
    merged, _ = load_dose(organism, tmp_path / "base" / "train", 3)  # the loader sees the adapter and merges it
    assert type(merged) is type(base)  # a plain model again, adapter merged
    changed = [k for k, v in merged.state_dict().items() if not (v == base.state_dict()[k]).all()]
    assert changed and all("proj" in k for k in changed)


@pytest.mark.slow
def test_summaries_fit_the_run_results_schema(prompting_run, finetune_run):
    """What `traitrl run` copies into results.json `persistence` validates against the report schema."""
    from traitrl.persistence.finetune import FinetuneSummary
    from traitrl.persistence.prompting import PromptingSummary
    from traitrl.report.schema import Persistence

    p = PromptingSummary.model_validate_json((prompting_run[0] / "prompting.json").read_text())
    f = FinetuneSummary.model_validate_json((finetune_run[0] / "finetune.json").read_text())
    section = Persistence.model_validate({"prompting": p.for_run_results(), "finetuning": f.for_run_results()})
    assert section.prompting["base"].none.n == p.models["base"].scores["none"].n
    assert section.finetuning.doses == [0, 4, 8] and len(section.finetuning.models["base"].health) == 3
