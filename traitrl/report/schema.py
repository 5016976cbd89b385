"""The run's `results.json`: everything the report shows, in one schema-versioned file.

`traitrl run` writes it stage by stage; `traitrl report` reads it and nothing else, so a report
can be rebuilt without a model. Every section is optional but typed: a smoke run, or a run
killed half-way, still validates and renders, and a typo in a key fails loudly instead of
silently dropping a section.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from traitrl.atomic import write_text
from traitrl.errors import UserError, describe_validation, read_json_file
from traitrl.evals.results import EvalResults
from traitrl.evals.scoreboard import Scoreboard
from traitrl.report.endpoints import PersistenceEndpoints
from traitrl.train.arms import COMPARISONS
from traitrl.train.record import JudgeStats

RUN_RESULTS_SCHEMA_VERSION = 1



class _Record(BaseModel):
    # NaN is not JSON: a missing number is null.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ValueCI(_Record):
    """A score with its 95 % CI; `value` is None when nothing could be scored."""

    value: float | None
    ci: tuple[float, float] | None = None
    n: int | None = Field(default=None, ge=0, description="items behind the value, if known")

    @model_validator(mode="after")
    def _ordered(self) -> ValueCI:
        if self.ci is not None and self.ci[0] > self.ci[1]:
            raise ValueError(f"ci lower bound {self.ci[0]} exceeds upper bound {self.ci[1]}")
        return self


class RunMeta(_Record):
    """Provenance of the run and the headline counts of its data."""

    name: str | None = None
    config_hash: str | None = None
    config_path: str | None = Field(default=None, description="resolved config, in the run folder")
    seeds: list[int] = Field(default_factory=list)
    created_at: str | None = Field(default=None, description="ISO 8601 time the run finished")
    traitrl_version: str | None = None
    counts: dict[str, int] = Field(
        default_factory=dict, description="e.g. train/dev scenarios, eval items, corpus rows"
    )
    notes: list[str] = Field(default_factory=list, description="shown in the report as-is")
    base_source: str | None = Field(default=None, description="where the base policy came from: organism (built "
                                    "here) or given (policy.model); None in runs written before it was recorded")

    @property
    def given_policy(self) -> bool:
        return self.base_source == "given"


class ArmStats(_Record):
    """One trained arm's compute and outcome: the compute-matching is checked on these numbers.

    `results.json` keys arms by any string; with several seeds an arm has one entry per seed,
    told apart by `arm` and `seed` (the report never parses the key).
    """

    arm: str | None = Field(default=None, description="the arm's name (None: the key is the name)")
    seed: int | None = Field(default=None, description="the training seed of this entry, if recorded")
    generated_tokens: int | None = Field(default=None, ge=0)
    optimizer_steps: int | None = Field(default=None, ge=0)
    final_rewards: dict[str, float] = Field(
        default_factory=dict,
        description="name -> value at the end of training: rewards (trait, capability) and any dev "
        "metrics the run adds (dev_trait_score, ...); the report shows them under their own names",
    )
    trait_fraction: float | None = Field(default=None, ge=0, le=1)
    trait_domains: list[str] | None = Field(
        default=None, description="domains of the trait data this arm saw ([] for none; None: not recorded)"
    )
    wall_s: float | None = Field(default=None, ge=0)
    unscored_rate: float | None = Field(default=None, ge=0, le=1, description="share of training rewards left unscored")
    fixed_length_rollouts: bool | None = None
    judge: JudgeStats | None = Field(default=None, description="the LLM judge's work in training (None: no judge)")


class EvalScores(_Record):
    """One held-out eval and every model's score on it."""

    id: str = Field(min_length=1)
    family: str
    domains: list[str] = Field(default_factory=list)
    format: str | None = None
    metric: str
    higher_is_better: bool = True
    n: int = Field(ge=0)
    scores: dict[str, ValueCI] = Field(
        default_factory=dict, description="model stage name (base, baseline, trait, ...) -> score"
    )

    @property
    def health(self) -> bool:
        return "health" in self.domains


class _Scoreboards(_Record):
    def available(self) -> dict[str, Scoreboard]:
        """key -> scoreboard, in the paper's order, for the comparisons this run has."""
        return {k: sb for k, _ in COMPARISONS if (sb := getattr(self, k)) is not None}


# Each compared pair of the arm registry vs the compute-matched control (`traitrl.evals.compare`
# output, verbatim): one optional field per pair, named as the registry names it.
Scoreboards = create_model(
    "Scoreboards", __base__=_Scoreboards,
    **{key: (Scoreboard | None, None) for key, _ in COMPARISONS},  # type: ignore[call-overload]
)


class TrainingCurve(_Record):
    """One arm over training: the in-distribution trait score (held-out trait scenarios) and an
    aggregate of the out-of-distribution eval suite, at each evaluated checkpoint."""

    steps: list[int]
    in_distribution_trait_score: list[float | None]
    out_of_distribution_score: list[float | None]
    in_distribution_ci: list[tuple[float, float] | None] | None = None
    out_of_distribution_ci: list[tuple[float, float] | None] | None = None
    out_of_distribution_aggregate: str = Field(
        default="mean aligned score over the held-out evals",
        description="what the OOD number is, in words, for the plot's axis",
    )

    def has_ci(self) -> bool:
        """Whether any point of either score carries a CI (only then is a band drawn)."""
        return any(c is not None for cis in (self.in_distribution_ci, self.out_of_distribution_ci)
                   for c in cis or ())

    @model_validator(mode="after")
    def _same_length(self) -> TrainingCurve:
        n = len(self.steps)
        for name in ("in_distribution_trait_score", "out_of_distribution_score",
                     "in_distribution_ci", "out_of_distribution_ci"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"{name} has {len(v)} points but steps has {n}")
        if list(self.steps) != sorted(self.steps):
            raise ValueError("steps must be in increasing order")
        return self


class PromptingScores(_Record):
    """One model's mean eval score with no system prompt and under persona steering."""

    none: ValueCI | None = None
    harmful: ValueCI | None = Field(default=None, description="known harmful personas (a given policy: bad medical advice)")
    helpful: ValueCI | None = Field(default=None, description="known careful/helpful personas")
    unseen_harmful: ValueCI | None = None
    unseen_helpful: ValueCI | None = None
    harmful_mental_health: ValueCI | None = Field(
        default=None, description="a given policy only: known personas eliciting disallowed mental-health content")
    unseen_harmful_mental_health: ValueCI | None = None


class FinetuneCurve(_Record):
    """One model's health and non-health eval scores after each dose of harmful fine-tuning."""

    health: list[ValueCI | None]
    non_health: list[ValueCI | None]


class Finetuning(_Record):
    doses: list[float]
    dose_unit: str = Field(default="steps", description="what a dose counts, for the x axis")
    models: dict[str, FinetuneCurve] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _per_dose(self) -> Finetuning:
        n = len(self.doses)
        for name, curve in self.models.items():
            for part in ("health", "non_health"):
                if len(getattr(curve, part)) != n:
                    raise ValueError(
                        f"models.{name}.{part} has {len(getattr(curve, part))} points "
                        f"but there are {n} doses"
                    )
        return self


class Persistence(_Record):
    prompting: dict[str, PromptingScores] | None = Field(
        default=None, description="model stage name -> scores under each steering condition"
    )
    finetuning: Finetuning | None = None
    endpoints: PersistenceEndpoints | None = Field(
        default=None, description="the persistence endpoints fixed in docs/organism.md §4 (trait vs baseline), first seed")
    endpoints_by_seed: list[PersistenceEndpoints] = Field(
        default_factory=list, description="the endpoints of every persisted seed, first seed first (run.persistence_seeds "
                                          "> 1; empty when only the first seed is persisted)")


class RefusalRate(_Record):
    rate: float | None = Field(description="refused / parsed items")
    refused: int = Field(ge=0)
    parsed: int = Field(ge=0)


class Refusals(_Record):
    """The paper's refusal control: how often each model refuses, and each comparison restricted
    to the items that neither model refused (in any seed)."""

    moves: list[str] = Field(description="the moves that count as a refusal")
    rates: dict[str, dict[str, RefusalRate]] = Field(
        default_factory=dict, description="model -> eval id (and 'all') -> refusal rate")
    non_refused: dict[str, Scoreboard] = Field(
        default_factory=dict, description="comparison key -> scoreboard over items neither model refused")


class Timings(BaseModel):
    """Seconds per stage, flat (`{"scenarios_s": 1.2, ..., "total_s": 60.0}`): any key is a
    stage name and every value a number."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)
    __pydantic_extra__: dict[str, float] = Field(init=False)

    total_s: float | None = None

    def stages(self) -> dict[str, float]:
        return dict(self.__pydantic_extra__ or {})


class Environment(_Record):
    python: str | None = None
    platform: str | None = None
    packages: dict[str, str | None] = Field(default_factory=dict)
    device: str | None = Field(default=None, description="cpu, or the GPU's name")
    cpu_count: int | None = None
    threads: int | None = Field(default=None, description="torch intra-op threads")


class RunResults(_Record):
    """The whole `results.json` of one run folder."""

    schema_version: int = RUN_RESULTS_SCHEMA_VERSION
    meta: RunMeta | None = None
    models: dict[str, str] = Field(
        default_factory=dict, description="stage name -> model folder (relative to the run)"
    )
    arms: dict[str, ArmStats] = Field(default_factory=dict)
    evals: list[EvalScores] = Field(default_factory=list)
    scoreboard: Scoreboards = Field(default_factory=Scoreboards)
    training_curves: dict[str, TrainingCurve] = Field(default_factory=dict)
    persistence: Persistence = Field(default_factory=Persistence)
    refusals: Refusals | None = None
    timings: Timings | None = None
    environment: Environment | None = None

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != RUN_RESULTS_SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {v} (this traitrl reads {RUN_RESULTS_SCHEMA_VERSION})"
            )
        return v

    @model_validator(mode="after")
    def _unique_eval_ids(self) -> RunResults:
        ids = [e.id for e in self.evals]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"eval id {dup!r} appears more than once in evals")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=False) + "\n"


def eval_scores(by_model: dict[str, EvalResults]) -> list[EvalScores]:
    """The `evals` section from each model's `traitrl eval` results (stage name -> results):
    one entry per eval id, in first-seen order, with every model's value, CI and n."""
    out: dict[str, EvalScores] = {}
    for model, results in by_model.items():
        for r in results.all_evals():
            entry = out.get(r.id) or EvalScores(
                id=r.id, family=r.family, domains=list(r.domains), format=r.format,
                metric=r.metric, higher_is_better=r.higher_is_better, n=r.n,
            )
            score = ValueCI(value=r.value, ci=r.ci, n=r.n - r.unscored)
            out[r.id] = entry.model_copy(update={"scores": {**entry.scores, model: score}})
    return list(out.values())


def save_run_results(path: str | os.PathLike[str], results: RunResults) -> None:
    """Write `results.json` atomically: a run killed mid-write keeps the previous file."""
    write_text(path, results.to_json())


def parse_run_results(data: Any, source: str = "results.json") -> RunResults:
    """Validate decoded JSON; problems are a `UserError` naming `source` and each key path."""
    if not isinstance(data, dict):
        raise UserError(f"{source} is not a run results file: expected a JSON object")
    try:
        return RunResults.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{source} is not a valid run results file:\n{describe_validation(e)}") from None


def load_run_results(path: str | os.PathLike[str]) -> RunResults:
    """Read and validate a run's `results.json`; any problem is a `UserError` naming the file."""
    path = Path(path)
    data = read_json_file(path, "run results")
    return parse_run_results(data, str(path))
