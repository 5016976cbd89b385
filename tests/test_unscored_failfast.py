"""Training stops with a clear error when its rewards are mostly unscored (a silent zero-gradient
run otherwise), and trains normally when they are scored: real GRPO steps on a tiny Qwen2 model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.helpers.tiny_qwen import build_tiny_qwen  # noqa: E402
from traitrl.config import load_config  # noqa: E402
from traitrl.errors import UserError  # noqa: E402
from traitrl.scenarios.io import write_scenarios  # noqa: E402
from traitrl.scenarios.record import Scenario  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
RUN = ["steps=3", "unscored_check_steps=2", "checkpoint_every=1", "per_device_batch=8", "num_generations=4",
       "max_completion_length=12", "learning_rate=1e-2", "trait_fraction=0", "threads=1", "dev_items=0"]


def rows(grader: str, split: str, n: int) -> list[Scenario]:
    return [Scenario.model_validate({
        "id": f"{split}-{i}", "split": split, "domain": "education", "trait": "verifiable", "grader": grader,
        "messages": [{"role": "user", "content": f"what is {i} plus {i + 3}?"}],
        "rubric": [{"id": "ok", "description": "a short reply", "points": 1}]}) for i in range(n)]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_qwen(tmp_path_factory.mktemp("qwen") / "model")


def data(folder: Path, reward: str) -> Path:
    """train.jsonl graded by a user reward; dev.jsonl adds two GSM8K rows, scored by the numeric verifier."""
    from traitrl.scenarios.importers import import_rows

    spec = f"tests.helpers.user_rewards:{reward}"
    gsm8k = import_rows("gsm8k", Path(__file__).parent / "fixtures" / "gsm8k_test_10.jsonl", split="dev", limit=2)
    write_scenarios(folder / "train.jsonl", rows(spec, "train", 8))
    write_scenarios(folder / "dev.jsonl", rows(spec, "dev", 2) + gsm8k.rows)
    return folder


def test_a_run_whose_rewards_are_all_unscored_stops_with_the_share_and_the_reason(model, tmp_path):
    from traitrl.train.grpo import train

    cfg = load_config("configs/smoke.yaml", [f"train.{a}" for a in RUN])
    out = tmp_path / "run"
    with pytest.raises(UserError) as err:
        train(cfg, model, out, arm="baseline", scenarios_dir=data(tmp_path, "always_none"), show_progress=False)
    message = str(err.value)
    assert "100 % of the rewards of the first 2 optimizer steps were unscored (16 of 16" in message
    assert "train.max_unscored_rate is 0.5" in message
    assert "'tests.helpers.user_rewards:always_none: returned None' (16)" in message
    assert not (out / "train.json").exists()
    assert not (out / "checkpoints" / "checkpoint-2").exists()  # stopped before step 2 was saved
    steps = [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["type"] == "train"]
    assert steps == [1]  # step 1 ran and was logged; nothing after the check


@pytest.mark.slow
def test_the_train_command_exits_2_with_the_message(model, tmp_path):
    from tests.conftest import run_cli

    sets = [x for a in RUN for x in ("--set", f"train.{a}")]
    r = run_cli("train", "--config", "configs/smoke.yaml", "--init", str(model), "--arm", "baseline",
                "--scenarios", str(data(tmp_path, "always_none")), "--out", str(tmp_path / "run"), *sets)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "100 % of the rewards of the first 2 optimizer steps were unscored" in " ".join(r.stderr.split())


def test_a_scored_run_trains_and_records_no_unscored_rewards(model, tmp_path):
    import torch
    from safetensors.torch import load_file

    from traitrl.train.grpo import train

    cfg = load_config("configs/smoke.yaml", [f"train.{a}" for a in RUN])
    out = tmp_path / "run"
    rec = train(cfg, model, out, arm="baseline", scenarios_dir=data(tmp_path, "length_reward"), show_progress=False)
    assert rec.optimizer_steps == 3 and rec.completions == 24
    assert rec.unscored_rate == 0.0 and rec.unscored_reasons == {} and rec.judge is None
    # the verifier rows of dev.jsonl are scored at every checkpoint (the user-reward rows are not)
    assert rec.curve.steps == [0, 1, 2, 3] and rec.final["dev_n"] == {"trait": 0, "capability": 2}
    before, after = load_file(str(model / "model.safetensors")), load_file(str(out / "model" / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before), "GRPO did not change the policy"
    # the same data with the check switched off (max_unscored_rate 1) trains through an unscored run
    off = load_config("configs/smoke.yaml", [f"train.{a}" for a in (*RUN, "steps=2", "max_unscored_rate=1")])
    none = train(off, model, tmp_path / "off", arm="baseline", scenarios_dir=data(tmp_path / "n", "always_none"),
                 show_progress=False)
    assert none.unscored_rate == 1.0
    assert none.unscored_reasons == {"tests.helpers.user_rewards:always_none: returned None": 16}


# -- judged rewards: an endpoint that only returns empty replies, and a flaky one ----------------------

def judged(folder: Path) -> Path:
    write_scenarios(folder / "train.jsonl", rows("llm_judge", "train", 8))
    write_scenarios(folder / "dev.jsonl", rows("llm_judge", "dev", 2))
    return folder


def judge_config(url: str, *extra: str):
    judge = [f"judge.base_url={url}", "judge.model=tiny-judge", "judge.api_key_env=null", "judge.backoff_base_s=0",
             "judge.backoff_max_s=0", "judge.timeout_s=5"]
    return load_config("configs/smoke.yaml", [f"train.{a}" for a in RUN] + judge + list(extra))


def test_a_judge_that_returns_empty_replies_stops_training(model, tmp_path):
    from tests.helpers.fault_server import FaultServer
    from traitrl.train.grpo import train

    with FaultServer(responder=lambda body: "") as srv, pytest.raises(UserError) as err:
        train(judge_config(srv.base_url, "judge.max_retries=0"), model, tmp_path / "run", arm="baseline",
              scenarios_dir=judged(tmp_path), show_progress=False)
    assert "100 % of the rewards of the first 2 optimizer steps were unscored (16 of 16" in str(err.value)
    assert "llm_judge: 1 of 1 rubric items unjudged: ok: unparseable reply: no criteria_met verdict in ''\" (16)" \
        in str(err.value)


def test_judge_statistics_are_recorded_in_train_json(model, tmp_path):
    from transformers import TrainerCallback

    from tests.helpers.fault_server import FaultPlan, FaultServer
    from traitrl.train.grpo import train

    class Crash(Exception):
        pass

    class KillAtStep2(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 2:
                raise Crash  # before checkpoint-2 is written: the rerun resumes from checkpoint-1

    faults = FaultPlan(rate=0.3, kinds=("429", "500"), seed=1)
    cfg = judge_config("http://127.0.0.1:9/v1", "judge.max_retries=3")
    with FaultServer(faults=faults) as srv:
        cfg = cfg.model_copy(update={"judge": cfg.judge.model_copy(update={"base_url": srv.base_url})})
        with pytest.raises(Crash):
            train(cfg, model, tmp_path / "run", arm="baseline", scenarios_dir=judged(tmp_path), show_progress=False,
                  callbacks=[KillAtStep2()], key="judged-run")
        rec = train(cfg, model, tmp_path / "run", arm="baseline", scenarios_dir=judged(tmp_path), show_progress=False,
                    key="judged-run")
        served = srv.requests
    assert rec.resumed_from.endswith("checkpoint-1")
    j = rec.judge
    # 3 steps x 8 completions, one item each: step 1 from before the restart, steps 2 and 3 after it
    assert (j.model, j.temperature, j.grades) == ("tiny-judge", 0.0, 24)
    assert served > j.calls > j.requests == 24  # faults were retried; the lost step 2 was asked again
    assert j.retries == j.calls - j.requests and j.failures == 0 and rec.unscored_rate == 0.0
    assert j.prompt_tokens > 0 and j.completion_tokens > 0
    saved = json.loads((tmp_path / "run" / "train.json").read_text())["judge"]
    assert saved["requests"] == 24 and saved["calls"] == j.calls


def test_the_report_shows_the_judge_statistics_of_each_arm():
    from traitrl.report.appendix import arms_section
    from traitrl.report.schema import ArmStats, RunResults
    from traitrl.train.record import JudgeStats

    judge = JudgeStats(model="tiny-judge", endpoint="http://127.0.0.1:1/v1", temperature=0.0, grades=24,
                       requests=24, calls=31, cache_hits=5, retries=7, failures=2, prompt_tokens=12345,
                       completion_tokens=678)
    res = RunResults(arms={"baseline": ArmStats(arm="baseline", generated_tokens=400, optimizer_steps=3),
                           "trait": ArmStats(arm="trait", generated_tokens=400, optimizer_steps=3,
                                             unscored_rate=0.125, judge=judge)})
    html = arms_section(res)
    assert "LLM judge in training" in html
    row = html[html.index("LLM judge in training"):]
    for cell in ("tiny-judge", ">24<", ">5<", ">2<", "12,345", ">678<", "12.5 %"):
        assert cell in row, cell
    assert "LLM judge" not in arms_section(RunResults(arms={"baseline": res.arms["baseline"]}))
