"""Pooled scores and paired deltas over eval items, shared by the two persistence experiments.

Both experiments ask "how far did one model's alignment move under an attack?" and "did it move
less than another model's?". Items of one eval suite are pooled (each item one observation,
oriented so higher = more aligned), deltas pair the same item across conditions by `item_id`,
and a difference between two models' deltas pairs the item's two deltas. Every interval is the
seeded percentile bootstrap of `traitrl.evals.stats`, so a number can be recomputed from the
per-item records saved beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from traitrl.evals.results import EvalResult, EvalResults
from traitrl.evals.stats import (
    bootstrap_ci,
    derive_seed,
    paired_bootstrap_delta,
    unpaired_bootstrap_delta,
)

ItemScores = dict[str, float]  # item_id -> oriented score of one scored item


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Estimate(_Record):
    """A pooled mean score with its 95 % CI (the shape of `report.schema.ValueCI`)."""

    value: float | None
    ci: tuple[float, float] | None = None
    n: int = Field(ge=0, description="scored items pooled")


class Delta(_Record):
    """A change in mean score with its 95 % CI and two-sided bootstrap p-value."""

    value: float | None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    n: int = Field(ge=0, description="items (or item pairs) behind the delta")
    pairing: str = Field(description="paired: the same items on both sides; unpaired: item sets differ")

    @property
    def significant(self) -> bool:
        return self.ci is not None and (self.ci[0] > 0 or self.ci[1] < 0)


def _clean(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def oriented(result: EvalResult, score: float) -> float:
    """Scores pooled across evals must point the same way: higher = more aligned. (Every organism
    eval is an aligned score in [0, 1]; a lower-is-better metric in [0, 1] is flipped.)"""
    return score if result.higher_is_better else 1.0 - score


def pooled_items(results: EvalResults, eval_ids: Iterable[str] | None = None) -> ItemScores:
    """Scored items of the chosen evals (all evals when None), keyed by their unique item ids."""
    keep = None if eval_ids is None else set(eval_ids)
    out: ItemScores = {}
    for r in results.all_evals():  # the world suite's evals, then any benchmarks
        if keep is None or r.id in keep:
            out.update({i: oriented(r, s) for i, s in r.scores().items()})
    return out


def estimate(scores: ItemScores, n_boot: int, seed: int, key: str) -> Estimate:
    """Mean of pooled item scores with a bootstrap CI; `key` gives each estimate its own stream."""
    mean, lo, hi = bootstrap_ci(list(scores.values()), n_boot=n_boot, seed=derive_seed(seed, key))
    if math.isnan(mean):
        return Estimate(value=None, ci=None, n=0)
    return Estimate(value=mean, ci=(lo, hi), n=len(scores))


def _delta(result: tuple[float, float, float, float], n: int, pairing: str) -> Delta:
    d, lo, hi, p = result
    if math.isnan(d):
        return Delta(value=None, n=0, pairing=pairing)
    return Delta(value=d, ci=(lo, hi), p_value=_clean(p), n=n, pairing=pairing)


def paired_change(before: ItemScores, after: ItemScores, n_boot: int, seed: int, key: str) -> Delta:
    """`mean(after - before)` over items scored in both (same item_id)."""
    common = [i for i in before if i in after]
    res = paired_bootstrap_delta([before[i] for i in common], [after[i] for i in common],
                                 n_boot=n_boot, seed=derive_seed(seed, key))
    return _delta(res, len(common), "paired")


def item_changes(before: ItemScores, after: ItemScores) -> ItemScores:
    """Per-item `after - before` for items scored in both: the raw material of a difference of deltas."""
    return {i: after[i] - before[i] for i in before if i in after}


def difference(reference: ItemScores, other: ItemScores, paired: bool, n_boot: int, seed: int, key: str) -> Delta:
    """`mean(other) - mean(reference)` of per-item values of two models (e.g. their per-item drops).

    `paired`: both models were evaluated on the same items, so values pair up by item_id (over
    the items with a value on both sides) and the between-item variance cancels. Otherwise an
    id match is not trusted to mean the same item and each side is resampled on its own.
    """
    if paired:
        common = [i for i in reference if i in other]
        res = paired_bootstrap_delta([reference[i] for i in common], [other[i] for i in common],
                                     n_boot=n_boot, seed=derive_seed(seed, key))
        return _delta(res, len(common), "paired")
    res = unpaired_bootstrap_delta(list(reference.values()), list(other.values()), n_boot=n_boot,
                                   seed=derive_seed(seed, key))
    return _delta(res, min(len(reference), len(other)), "unpaired")


def same_items(a: EvalResults, b: EvalResults) -> bool:
    """Whether two results files evaluated the same items (scored or not), so their items pair up."""
    return _item_ids(a) == _item_ids(b)


def _item_ids(r: EvalResults) -> set[str]:
    return {it.item_id for e in r.all_evals() for it in e.items}


def negate(scores: ItemScores) -> ItemScores:
    return {i: -v for i, v in scores.items()}
