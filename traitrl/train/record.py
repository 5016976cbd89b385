"""`train.json`: the typed record of one finished GRPO arm.

`traitrl train` writes it last (its presence means "done"); the run's arm stage and the report
read its fields, never a dict through `.get()` chains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from traitrl.errors import UserError, describe_validation, read_json_file

TRAIN_RECORD_SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MixStats(_Record):
    """The arm's RL mix: counts per kind, per trait or task kind, and per domain of trait rows."""

    rows: int
    trait_rows: int
    capability_rows: int
    trait_fraction: float
    distinct_trait_rows: int
    trait_pool: int
    by_trait: dict[str, int]
    trait_domains: dict[str, int]
    graders: dict[str, int]


class DevCurve(_Record):
    """dev.jsonl scored at step 0 and at every checkpoint."""

    steps: list[int]
    generated_tokens: list[int]
    dev_trait_score: list[float | None]
    dev_capability_reward: list[float | None]


class TrainRecord(_Record):
    schema_version: int = TRAIN_RECORD_SCHEMA_VERSION
    key: str
    arm: str
    seed: int
    init: str
    model: str
    optimizer_steps: int
    generated_tokens: int
    completion_tokens: int
    completions: int
    fixed_length_rollouts: bool
    tokens_seen: int
    unscored_rate: float | None
    mix: MixStats
    train_reward_means: dict[str, float | None]
    final_train_rewards: dict[str, float | None] = Field(description="tail mean of the logged reward per kind")
    final: dict[str, Any] = Field(description="dev scores at the last checkpoint (dev_* keys)")
    curve: DevCurve
    resumed_from: str | None
    num_processes: int = Field(description="completions and token counts are the main process's share")
    wall_s: float
    grpo: dict[str, Any] = Field(description="the GRPOConfig values that decide compute and sampling")

    @property
    def final_rewards(self) -> dict[str, float]:
        """Training-reward tail means and final dev scores: what the report's arm table shows."""
        rewards = {k: v for k, v in self.final_train_rewards.items() if v is not None}
        return rewards | {k: v for k, v in self.final.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def read_train_record(path: Path) -> TrainRecord | None:
    """The record in `path`, None when there is none; a damaged record is a UserError."""
    if not path.is_file():
        return None
    data = read_json_file(path, "training record")
    try:
        return TrainRecord.model_validate(data)
    except Exception as e:  # pydantic.ValidationError: an old or hand-edited file
        detail = describe_validation(e) if hasattr(e, "errors") else str(e)
        raise UserError(f"{path} is not a valid training record:\n{detail}") from None
