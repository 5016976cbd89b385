"""The judge is part of every key that caches or resumes judged work: the arm and evaluate stage
keys, a direct training run's key, and the judge's own reply-cache key. Rerunning with another
judge model or temperature must not return the old run."""

from __future__ import annotations

import pytest

from traitrl.config import load_config
from traitrl.experiments import stages
from traitrl.experiments.stage import derive_key

JUDGE = ["judge.base_url=http://127.0.0.1:9/v1", "judge.model=judge-a", "judge.api_key_env=null"]
VARIANTS = {
    "same": JUDGE,
    "model": [*JUDGE, "judge.model=judge-b"],
    "temperature": [*JUDGE, "judge.temperature=0.7"],
    "no judge": [],
}


def configs():
    return {name: load_config("configs/smoke.yaml", over) for name, over in VARIANTS.items()}


@pytest.mark.parametrize("stage", [stages.train_arm, stages.evaluate])
def test_stage_keys_change_with_the_judge_model_and_temperature(stage):
    assert "judge" in stage.spec.config
    inputs = {"arm": "trait", "seed": 0, "dest": "arms/trait", "name": "trait"}
    keys = {name: derive_key(stage.spec, cfg, inputs) for name, cfg in configs().items()}
    assert keys["same"] == derive_key(stage.spec, load_config("configs/smoke.yaml", JUDGE), inputs)
    assert len(set(keys.values())) == 4, keys


def test_a_direct_training_run_key_changes_with_the_judge(tmp_path):
    from traitrl.train.run_folder import run_key

    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "config.json").write_text("{}")
    for f in ("train.jsonl", "dev.jsonl"):
        (tmp_path / f).write_text("{}\n")
    keys = {name: run_key(cfg, cfg.train, tmp_path / "init", tmp_path) for name, cfg in configs().items()}
    assert len(set(keys.values())) == 4, keys
    # what only paces the judge, or names its key, is not what a run produced
    paced = load_config("configs/smoke.yaml", [*JUDGE, "judge.max_concurrency=2", "judge.timeout_s=5"])
    assert run_key(paced, paced.train, tmp_path / "init", tmp_path) == keys["same"]


def test_the_reply_cache_key_changes_with_the_judge_model_and_temperature():
    from traitrl.graders.llm_client import ChatClient

    messages = [{"role": "user", "content": "Is this reply kind? yes or no"}]
    cfgs = configs()
    keys = {name: ChatClient(cfgs[name].judge).request(messages, purpose="rubric_item").key()
            for name in ("same", "model", "temperature")}
    assert len(set(keys.values())) == 3, keys
    again = ChatClient(cfgs["same"].judge).request(messages, purpose="rubric_item").key()
    assert again == keys["same"]
