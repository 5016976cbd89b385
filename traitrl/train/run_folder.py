"""A training run's folder: its key, its owner check, resuming and the scenario files it reads.

`run.json` records the key a folder was trained under; `train.json` (written last) means done.
A folder with another key is refused once it has trained anything (the user's folder), or
cleared (`clear_stale_run`, the pipeline's own arm folders whose inputs or code changed).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from traitrl.config import Config, TrainConfig
from traitrl.errors import UserError
from traitrl.locks import LOCK_FILE
from traitrl.scenarios.record import Scenario
from traitrl.train.record import TrainRecord, read_train_record

RUN_FILE, RESULT_FILE, MIX_FILE = "run.json", "train.json", "mix.json"
CHECKPOINTS, MODEL_DIR = "checkpoints", "model"


def load_splits(config: Config, out: Path, scenarios_dir: Path | None) -> tuple[list[Scenario], list[Scenario], Path]:
    """train and dev scenarios: from `scenarios_dir`, else generated from the config into out/data."""
    from traitrl.scenarios.io import read_scenarios

    data = scenarios_dir or out / "data"
    if scenarios_dir is None and not ((data / "train.jsonl").is_file() and (data / "dev.jsonl").is_file()):
        from traitrl.scenarios.generate import generate

        generate(config, data)
    return read_scenarios(data / "train.jsonl"), read_scenarios(data / "dev.jsonl"), data


def last_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint: trainer_state.json is the last file the Trainer writes."""
    found = []
    for p in (out / CHECKPOINTS).glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and (p / "trainer_state.json").is_file():
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def run_key(config: Config, tc: TrainConfig, init_dir: Path, data: Path) -> str:
    """The key of a run started without one (a direct library call; `traitrl train` and `traitrl
    run` pass the arm stage's key): the code it runs, the training config (arm applied), world,
    dev-scoring, policy and judge settings, the initial model and the scenario files."""
    from traitrl.fingerprint import code_fingerprint, digest, file_fingerprint, folder_fingerprint
    from traitrl.models.policy import policy_key

    # threads and loggers change how a run is watched, not what it produces: a run may resume with others
    train = tc.model_dump(mode="json", exclude={"threads", "report_to", "log_completions"})
    return digest({"code": [code_fingerprint(p) for p in ("traitrl.train", "traitrl.graders", "traitrl.world")],
                   "train": train, "world": config.world.model_dump(mode="json"),
                   "sampling": config.evals.sampling.model_dump(mode="json"), "init": folder_fingerprint(init_dir),
                   "data": {f: file_fingerprint(data / f) for f in ("train.jsonl", "dev.jsonl")},
                   "policy": policy_key(config.policy),
                   # what decides a judge's verdicts (endpoint, model, temperature, seed, max_tokens), not its key or pacing
                   "judge": config.judge.settings() if config.judge is not None else None})


def check_owner(out: Path) -> None:
    """A folder with something other than a training run in it is never written to. Its scenario
    data, its lock and the temporary file of a write that a kill interrupted are not "something"."""
    if out.exists() and not (out / RUN_FILE).is_file() and any(not _ours(p.name) for p in out.iterdir()):
        raise UserError(f"{out}: exists and is not a traitrl training run (no {RUN_FILE}); refusing to overwrite it")


def _ours(name: str) -> bool:
    return name in ("data", LOCK_FILE) or re.fullmatch(rf"\.{re.escape(RUN_FILE)}\..+\.tmp", name) is not None


def finished_run(out: Path, key: str) -> TrainRecord | None:
    """The finished result when this exact run is done; a run with other inputs is refused."""
    run = _read_json(out / RUN_FILE)
    # a run refused before its first step (an unknown grader, say) holds nothing: a corrected rerun takes it over
    trained = last_checkpoint(out) is not None or (out / RESULT_FILE).exists() or (out / "metrics.jsonl").exists()
    if run is not None and run.get("key") != key and trained:
        raise UserError(f"{out}: holds a training run with other settings or code (key {run.get('key')}, now {key}); "
                        "use another --out or delete the folder")
    done = read_train_record(out / RESULT_FILE)
    return done if done is not None and done.key == key else None


def clear_stale_run(out: Path, key: str) -> None:
    """Remove a training run folder made with another key (a pipeline's own arm folder whose
    inputs or code changed); a folder that is not a training run is left alone."""
    run = _read_json(out / RUN_FILE)
    if run is not None and run.get("key") != key:
        shutil.rmtree(out)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
