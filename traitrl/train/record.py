"""`train.json`: the typed record of one finished GRPO arm.

`traitrl train` writes it last (its presence means "done"); the run's arm stage and the report
read its fields, never a dict through `.get()` chains.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class JudgeStats(_Record):
    """The LLM judge's work for one arm: its settings and counters (requests, HTTP calls, cache
    hits, failures, tokens), by the main process, over the whole run (carried across resumes in the
    checkpoints; work after the last checkpoint of a killed run is not counted, it is redone)."""

    model: str
    endpoint: str
    temperature: float
    seed: int | None = None
    max_tokens: int | None = None
    grades: int = Field(0, ge=0, description="completions graded")
    unscored: int = Field(0, ge=0, description="grades left unscored (failed or unparseable judgements)")
    requests: int = Field(0, ge=0, description="judge requests, cached or not")
    calls: int = Field(0, ge=0, description="HTTP attempts, retries included")
    cache_hits: int = Field(0, ge=0)
    coalesced: int = Field(0, ge=0, description="requests answered by an identical one in flight")
    retries: int = Field(0, ge=0)
    failures: int = Field(0, ge=0, description="requests that failed after every retry")
    unparseable: int = Field(0, ge=0, description="replies that said nothing usable")
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    errors: dict[str, int] = Field(default_factory=dict, description="failures by kind (error_* counters)")

    @classmethod
    def of(cls, judge: Any, counters: Mapping[str, int] | None = None) -> JudgeStats:
        """From an `LLMJudge`: its `settings` and `counters` (default: its `stats()`)."""
        settings, stats = judge.settings, judge.stats() if counters is None else counters
        counters = {k: v for k, v in stats.items() if k in cls.model_fields and k not in settings}
        return cls(**{k: settings[k] for k in ("model", "endpoint", "temperature", "seed", "max_tokens")},
                   **counters, errors={k: v for k, v in stats.items() if k.startswith("error_")})


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
    unscored_reasons: dict[str, int] = Field(default_factory=dict, description="why rewards were unscored, 'grader: reason' -> count")
    judge: JudgeStats | None = Field(None, description="the LLM judge's requests, cache hits, failures and tokens in rewards and, on a given policy, in dev scoring (None: no judge graded)")
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


class TokenMatch(_Record):
    """Whether the arms of a run generated the same number of tokens (compute matching), and the
    gap when they did not: (most - fewest) / most."""

    tokens: dict[str, int]
    equal: bool
    gap: float
    note: str | None = Field(None, description="the gap in words, for results.json and the report (None: equal)")


def token_match(arms: Mapping[str, tuple[int, bool]]) -> TokenMatch:
    """Compare the arms' generated tokens; `arms` maps a name to (generated_tokens, fixed_length_rollouts)."""
    tokens = {name: n for name, (n, _) in arms.items()}
    most, fewest = max(tokens.values(), default=0), min(tokens.values(), default=0)
    gap = (most - fewest) / most if most else 0.0
    if most == fewest:
        return TokenMatch(tokens=tokens, equal=True, gap=0.0)
    shown = ", ".join(f"{name} {n}" for name, n in tokens.items())
    free = [name for name, (_, fixed) in arms.items() if not fixed]
    why = (f"rollouts were not fixed-length for {', '.join(free)} (vLLM generation, or train.fixed_length_rollouts false)"
           if free else "every arm had fixed-length rollouts, so the arms differ in steps or batch size")
    return TokenMatch(tokens=tokens, equal=False, gap=gap,
                      note=f"generated tokens differ between arms by {100 * gap:.2f} % ({shown}); {why}")


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
