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
    spec = f"tests.helpers.user_rewards:{reward}"
    write_scenarios(folder / "train.jsonl", rows(spec, "train", 8))
    write_scenarios(folder / "dev.jsonl", rows(spec, "dev", 2))
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


def test_a_scored_run_trains_and_records_no_unscored_rewards(model, tmp_path):
    import torch
    from safetensors.torch import load_file

    from traitrl.train.grpo import train

    cfg = load_config("configs/smoke.yaml", [f"train.{a}" for a in RUN])
    out = tmp_path / "run"
    rec = train(cfg, model, out, arm="baseline", scenarios_dir=data(tmp_path, "length_reward"), show_progress=False)
    assert rec.optimizer_steps == 3 and rec.completions == 24
    assert rec.unscored_rate == 0.0 and rec.unscored_reasons == {} and rec.judge is None
    before, after = load_file(str(model / "model.safetensors")), load_file(str(out / "model" / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before), "GRPO did not change the policy"
    # the same data with the check switched off (max_unscored_rate 1) trains through an unscored run
    off = load_config("configs/smoke.yaml", [f"train.{a}" for a in (*RUN, "steps=2", "max_unscored_rate=1")])
    none = train(off, model, tmp_path / "off", arm="baseline", scenarios_dir=data(tmp_path / "n", "always_none"),
                 show_progress=False)
    assert none.unscored_rate == 1.0
    assert none.unscored_reasons == {"tests.helpers.user_rewards:always_none: returned None": 16}
