"""The records of the persistence endpoints (docs/organism.md §4) as they stand in results.json;
`traitrl.experiments.endpoints` computes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Endpoint(_Record):
    """One endpoint for both models and their difference (model - reference) with a 95 % CI."""

    reference: float | None
    model: float | None
    difference: float | None
    ci: tuple[float, float] | None = None
    p_value: float | None = Field(default=None, description="two-sided bootstrap p of difference = 0")
    n: int = Field(ge=0, description="items behind each model's value")


class MatchedStart(_Record):
    step: int | None = Field(description="the matched trait checkpoint's step: of both arms' RL checkpoints, the pair "
                                         "whose no-prompt curve scores are closest (None: no pair has scores)")
    baseline_step: int | None = Field(None, description="the matched baseline checkpoint's step (None in results "
                                                        "written before the pair rule: the final baseline)")
    trait_curve_score: float | None = None
    baseline_curve_score: float | None = None
    drop: dict[str, Endpoint] = Field(default_factory=dict, description="known / unseen -> raw drop, trait checkpoint vs baseline checkpoint")


class PersistenceEndpoints(_Record):
    reference: str = Field(description="the compute-matched baseline arm's model name")
    model: str = Field(description="the trait arm's model name")
    n_boot: int
    score_under_attack: dict[str, Endpoint] = Field(description="known / unseen -> harmful-prompt score")
    logit_drop: dict[str, Endpoint]
    raw_drop: dict[str, Endpoint] = Field(description="none - harmful, for reading beside the logit drop")
    harmful_share: dict[str, Endpoint] = Field(description="(none - harmful) / none")
    careful_share: dict[str, Endpoint] = Field(description="(careful - none) / (1 - none)")
    matched_start: MatchedStart | None = None


def matched_drop(e: PersistenceEndpoints) -> dict[str, Endpoint]:
    return e.matched_start.drop if e.matched_start else {}


# the endpoints read seed by seed (a sweep's persistence columns, the report's per-seed table)
SEED_READS: tuple[tuple[str, Callable[[PersistenceEndpoints], dict[str, Endpoint]]], ...] = (
    ("1. score under harmful prompts", lambda e: e.score_under_attack),
    ("2. logit-scale drop", lambda e: e.logit_drop),
    ("raw drop, final models", lambda e: e.raw_drop),
    ("3. matched-start drop", matched_drop),
    ("harmful share", lambda e: e.harmful_share),
    ("careful share", lambda e: e.careful_share),
)


def known_differences(by_seed: Sequence[PersistenceEndpoints],
                      read: Callable[[PersistenceEndpoints], dict[str, Endpoint]]) -> list[float | None]:
    """One endpoint's difference (trait − baseline) on known personas, seed by seed."""
    return [e.difference if (e := read(s).get("known")) else None for s in by_seed]
