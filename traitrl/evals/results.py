"""The eval results file: what `traitrl eval` writes and `traitrl compare` reads.

One file holds one model's evaluation: per eval its metric with a CI, and every item's prompt,
response, score and grade, so each number can be rebuilt from the file alone. Items of two files
are paired by `item_id`. The models are shared by the runner (writer) and the comparison
(reader); `EvalResult.from_items` computes the summary fields so both agree on them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from traitrl.atomic import write_json
from traitrl.errors import UserError, describe_validation, read_json_file
from traitrl.evals.stats import CIMethod, bootstrap_ci, derive_seed

RESULTS_SCHEMA_VERSION = 1

# `value` must equal the mean of the item scores up to this (rounding in a hand-edited file).
_VALUE_TOLERANCE = 1e-6


class _Record(BaseModel):
    # NaN is not JSON and not a score: unscored is null, with the reason in `grade`.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class PromptMessage(_Record):
    """One chat message of an item's prompt. `role` is free text: public benchmarks use roles
    beyond system/user/assistant (e.g. 'developer')."""

    role: str
    content: str


class ItemRecord(_Record):
    """One eval item as the model saw and answered it. `score` is None when the item is
    unscored (e.g. the judge failed); `grade` is the grader's free-form record of why."""

    item_id: str = Field(min_length=1)
    prompt: list[PromptMessage] = Field(default_factory=list)
    response: str = ""
    score: float | None
    grade: dict[str, Any] | None = None


class EvalResult(_Record):
    """One eval's outcome for one model.

    `n` counts items evaluated *including* unscored ones; `value` is the mean score over the
    `n - unscored` scored items (None when there are none) and `ci` its interval.
    `informative` is set by the sensitivity check: False means the model's careful and harmful
    personas score the same here. It is an annotation only: it never removes the eval from a
    comparison's counts (a knob such as rho = 0 can flatten the personas on every eval).
    `rl_relation` is the registry's tag: `held_out` (RL never pays for this eval's answer) or
    `shared`; None in files written before evals were tagged.
    """

    id: str = Field(min_length=1)
    family: str
    domains: list[str] = Field(default_factory=list)
    format: str
    metric: str
    higher_is_better: bool = True
    n: int = Field(ge=0)
    value: float | None
    ci: tuple[float, float] | None = None
    unscored: int = Field(default=0, ge=0)
    informative: bool | None = None
    rl_relation: str | None = None
    items: list[ItemRecord] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> EvalResult:
        if self.unscored > self.n:
            raise ValueError(f"unscored ({self.unscored}) exceeds n ({self.n})")
        if self.ci is not None and self.ci[0] > self.ci[1]:
            raise ValueError(f"ci lower bound {self.ci[0]} exceeds upper bound {self.ci[1]}")
        if not self.items:
            return self  # a summary-only file: nothing to cross-check
        if self.n != len(self.items):
            raise ValueError(f"n is {self.n} but there are {len(self.items)} items")
        ids = [it.item_id for it in self.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"item_id {dup!r} appears more than once")
        scores = self.scores()
        if self.unscored != self.n - len(scores):
            raise ValueError(
                f"unscored is {self.unscored} but {self.n - len(scores)} items have score null"
            )
        mean = sum(scores.values()) / len(scores) if scores else None
        if mean is None or self.value is None:
            agree = mean is None and self.value is None
        else:
            agree = abs(mean - self.value) <= _VALUE_TOLERANCE
        if not agree:
            raise ValueError(f"value is {self.value} but the mean of the item scores is {mean}")
        return self

    def scores(self) -> dict[str, float]:
        """Scored items only: item_id -> score, in file order."""
        return {it.item_id: it.score for it in self.items if it.score is not None}

    @property
    def health(self) -> bool:
        """Whether the eval counts as a health eval for the domain-transfer split."""
        return "health" in self.domains

    @classmethod
    def from_items(
        cls,
        *,
        items: list[ItemRecord],
        seed: int = 0,
        n_boot: int = 2000,
        ci_method: CIMethod = "percentile",
        **fields: Any,
    ) -> EvalResult:
        """Build a result whose `n`, `value`, `ci` and `unscored` are computed from `items`
        (a bootstrap seeded per eval id), so writer and reader never disagree on them."""
        scored = [it.score for it in items if it.score is not None]
        mean, lo, hi = bootstrap_ci(
            scored, n_boot=n_boot, seed=derive_seed(seed, str(fields.get("id"))), method=ci_method
        )
        return cls(
            n=len(items),
            value=None if not scored else mean,
            ci=None if not scored else (lo, hi),
            unscored=len(items) - len(scored),
            items=items,
            **fields,
        )


class BenchmarkResult(EvalResult):
    """An imported public benchmark: an eval plus the file it came from, pinned by sha256."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    path: str


class EvalResults(_Record):
    """A results file: one model, one config, one seed."""

    schema_version: int = RESULTS_SCHEMA_VERSION
    model: str
    config_hash: str | None = None
    seed: int | None = None
    evals: list[EvalResult] = Field(default_factory=list)
    benchmarks: list[BenchmarkResult] = Field(default_factory=list)
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description="free-form provenance, e.g. the persona prompt or sampling settings used",
    )

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != RESULTS_SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {v} (this traitrl reads {RESULTS_SCHEMA_VERSION})"
            )
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> EvalResults:
        seen: set[str] = set()
        for r in self.all_evals():
            if r.id in seen:
                raise ValueError(f"eval id {r.id!r} appears more than once")
            seen.add(r.id)
        return self

    def all_evals(self) -> list[EvalResult]:
        """Evals then benchmarks: everything a comparison looks at."""
        return [*self.evals, *self.benchmarks]

    def by_id(self) -> dict[str, EvalResult]:
        return {r.id: r for r in self.all_evals()}

    def with_informative(self, flags: dict[str, bool]) -> EvalResults:
        """A copy with `informative` set on the evals named in `flags` (others unchanged)."""

        def update(r: EvalResult) -> EvalResult:
            return r.model_copy(update={"informative": flags[r.id]}) if r.id in flags else r

        return self.model_copy(
            update={
                "evals": [update(r) for r in self.evals],
                "benchmarks": [update(r) for r in self.benchmarks],
            }
        )


def load_results(path: str | os.PathLike[str]) -> EvalResults:
    """Read and validate a results file; any problem is a `UserError` naming the file."""
    path = Path(path)
    data = read_json_file(path, "results file")
    if not isinstance(data, dict):
        raise UserError(f"{path} is not an eval results file: expected a JSON object")
    try:
        return EvalResults.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{path} is not a valid eval results file:\n{describe_validation(e)}") from None


def save_results(path: str | os.PathLike[str], results: EvalResults) -> None:
    """Write a results file atomically (a killed run never leaves half a file)."""
    write_json(path, results.model_dump(mode="json"))
