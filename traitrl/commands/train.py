"""`traitrl train`: one arm of trait RL with TRL's GRPO, resumable from its last checkpoint."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from traitrl.commands.common import ConfigOpt, SetOpt, require_model_dir, resolve_config
from traitrl.console import console
from traitrl.errors import UserError


def train_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, metrics.jsonl, train.json, model/.")],
    init: Annotated[Path | None, typer.Option("--init", "-i", help="Initial policy folder (Hugging Face format), e.g. a built organism (default: policy.model of the config).")] = None,
    arm: Annotated[str | None, typer.Option("--arm", "-a", help="Data mixture: baseline, trait, health_only, no_health_science, custom (default: train.arm).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    scenarios: Annotated[Path | None, typer.Option("--scenarios", help="Folder with train.jsonl and dev.jsonl (default: generate them into OUT/data).")] = None,
) -> None:
    """Train one arm with GRPO. Arms differ only in their data mixture, so they are compute-matched.
    Running the same command again resumes from the last checkpoint, or returns at once when done."""
    from traitrl.config import MODEL_CONFIG
    from traitrl.experiments import stages
    from traitrl.experiments.stage import call
    from traitrl.train.arms import arm_config

    cfg = resolve_config(config, set_, init)
    if init is None:
        if cfg.policy.model is None:
            raise UserError("no initial policy: give --init MODEL_DIR or set policy.model in the config")
        init = Path(cfg.policy.model)
    elif cfg.policy.model is None and not (init / MODEL_CONFIG).is_file():
        # a model traitrl did not build or train (no traitrl.yaml beside it) is a given policy, graded
        # as one: its helpfulness rows go to the judge, never to the organism's world signal
        cfg = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"model": str(init)})})
    from traitrl.models.policy import check_policy

    name = arm_config(cfg.train, arm).arm  # an unknown arm fails here, before any work
    check_policy(cfg.policy, require_model_dir(init))  # a missing chat template fails before any file is written
    base = stages.given_model(init)
    t0 = time.perf_counter()
    if scenarios is None:  # generated once into OUT/data (deterministic), then keyed by content like a user's files
        scenarios = out / "data"
        if not ((scenarios / "train.jsonl").is_file() and (scenarios / "dev.jsonl").is_file()):
            call(stages.scenarios, cfg, Path("."), dest=str(scenarios))
    data = stages.given_scenarios(scenarios)
    result = call(stages.train_arm, cfg, Path("."), base=base, data=data, arm=name, seed=cfg.train.seed,
                  dest=str(out), name=name)
    if not _is_main_process():
        return  # under `accelerate launch`, one summary for the whole job
    _print_result(result)
    console.print(f"{result.arm}: {result.optimizer_steps} steps, {result.generated_tokens:,} generated tokens; "
                  f"model -> {result.path} ({time.perf_counter() - t0:.0f}s)")


def _is_main_process() -> bool:
    """torchrun (and so `accelerate launch`) numbers the processes in RANK; a plain run has none."""
    return os.environ.get("RANK", "0") == "0"


def _pts(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _print_result(result) -> None:
    curve = result.curve
    table = Table(title=f"arm {result.arm} (seed {result.seed}): dev.jsonl over training (points, 0-100)")
    for col in ("step", "generated tokens", "trait score", "capability reward"):
        table.add_column(col, justify="right")
    for row in zip(curve.steps, curve.generated_tokens, curve.dev_trait_score, curve.dev_capability_reward,
                   strict=True):
        table.add_row(str(row[0]), f"{row[1]:,}", _pts(row[2]), _pts(row[3]))
    console.print(table)
