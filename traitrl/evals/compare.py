"""Compare two evaluations eval by eval: paired bootstrap deltas, verdicts, "improved X of N".

`compare` is the paper's scoreboard (trait RL vs the compute-matched baseline); `sensitivity`
runs the same delta between one model's careful- and harmful-persona evaluations to find evals
that carry no signal for that model, which the scoreboard then reports apart.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from traitrl.atomic import write_texts
from traitrl.errors import UserError
from traitrl.evals.results import BenchmarkResult, EvalResult, EvalResults, load_results
from traitrl.evals.scoreboard import (
    DeltaEstimate,
    EvalComparison,
    NotCompared,
    Pairing,
    Scoreboard,
    Verdict,
    render_scoreboard,
    tally,
)
from traitrl.evals.stats import derive_seed, holm, paired_bootstrap_delta, unpaired_bootstrap_delta

__all__ = [
    "DeltaEstimate",
    "EvalComparison",
    "NotCompared",
    "Scoreboard",
    "Sensitivity",
    "SensitivityRow",
    "compare",
    "compare_command",
    "estimate_delta",
    "render_scoreboard",
    "sensitivity",
]

# 10 000 resamples: bootstrap p-values resolve to 2 / (n_boot + 1) ~ 0.0002, below the
# smallest Holm threshold for 53 evals (0.05 / 53 ~ 0.00094).
DEFAULT_N_BOOT = 10_000


class NotComparable(Exception):
    """An eval that exists on both sides but has nothing to compare (the message says why)."""


def _align(
    baseline: EvalResult, treatment: EvalResult
) -> tuple[list[float], list[float], Pairing, str]:
    """The two score lists to compare, whether they are pairs, and a note on what was dropped.

    Same item_id sets: pairs of items scored in both files. Different sets: the files evaluated
    different items, so an id match is not trusted to mean the same item: unpaired, over the
    shared ids (over all items if none are shared).
    """
    ids_a = [it.item_id for it in baseline.items]
    ids_b = [it.item_id for it in treatment.items]
    sa, sb = baseline.scores(), treatment.scores()
    if set(ids_a) == set(ids_b):
        common = [i for i in ids_a if i in sa and i in sb]
        if not common:
            raise NotComparable("no item is scored in both files")
        dropped = len(ids_a) - len(common)
        note = f"{dropped} items unscored in one file or both were dropped" if dropped else ""
        return [sa[i] for i in common], [sb[i] for i in common], "paired", note
    shared = set(ids_a) & set(ids_b)
    if shared:
        a = [s for i, s in sa.items() if i in shared]
        b = [s for i, s in sb.items() if i in shared]
        note = (
            f"item sets differ ({len(set(ids_a) - shared)} only in baseline, "
            f"{len(set(ids_b) - shared)} only in treatment): unpaired bootstrap over the "
            f"{len(shared)} shared item ids"
        )
    else:
        a, b = list(sa.values()), list(sb.values())
        note = "no item ids in common: unpaired bootstrap over all scored items"
    if not a or not b:
        raise NotComparable(f"no scored {'baseline' if not a else 'treatment'} items to compare")
    return a, b, "unpaired", note


def estimate_delta(
    baseline: EvalResult,
    treatment: EvalResult,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = 0.05,
    seed: int = 0,
) -> DeltaEstimate:
    """The delta of one eval from its per-item scores, oriented so positive = treatment better.

    Paired by item_id where the item sets match (see `_align`); the bootstrap is seeded per eval
    id so adding or reordering evals does not change any other eval's numbers.
    """
    for side, r in (("baseline", baseline), ("treatment", treatment)):
        if not r.items:
            raise NotComparable(f"the {side} file has no per-item scores for this eval")
    if (
        baseline.metric != treatment.metric
        or baseline.higher_is_better != treatment.higher_is_better
    ):
        raise UserError(
            f"eval {baseline.id!r} is not the same metric in both files: "
            f"{baseline.metric} (higher_is_better={baseline.higher_is_better}) vs "
            f"{treatment.metric} (higher_is_better={treatment.higher_is_better})"
        )
    a, b, pairing, note = _align(baseline, treatment)
    bootstrap = paired_bootstrap_delta if pairing == "paired" else unpaired_bootstrap_delta
    delta, lo, hi, p = bootstrap(
        a, b, n_boot=n_boot, alpha=alpha, seed=derive_seed(seed, baseline.id)
    )
    if not baseline.higher_is_better:
        delta, lo, hi = -delta, -hi, -lo
    return DeltaEstimate(
        delta=delta,
        ci=(lo, hi),
        p_value=p,
        pairing=pairing,
        n_baseline=len(a),
        n_treatment=len(b),
        baseline=sum(a) / len(a),
        treatment=sum(b) / len(b),
        note=note,
    )


def _verdict(delta: float, significant: bool) -> Verdict:
    if not significant:
        return "no_change"
    return "improved" if delta > 0 else "regressed"


def _informative(a: EvalResult, b: EvalResult) -> bool | None:
    # Excluded if either model shows no signal: a null delta there cannot be read as no effect.
    if a.informative is False or b.informative is False:
        return False
    return True if a.informative and b.informative else None


def compare(
    baseline: EvalResults,
    treatment: EvalResults,
    alpha: float = 0.05,
    seed: int = 0,
    n_boot: int = DEFAULT_N_BOOT,
) -> Scoreboard:
    """Treatment vs baseline on every eval present in both, with verdicts and X-of-N counts.

    Verdict: `improved` / `regressed` when the `1 - alpha` CI of the oriented delta lies above /
    below 0, else `no_change`. The Holm verdict rejects over the counted (informative) evals.
    """
    base_by_id, treat_by_id = baseline.by_id(), treatment.by_id()
    rows: list[EvalComparison] = []
    skipped: list[NotCompared] = []
    for eid, b in base_by_id.items():
        t = treat_by_id.get(eid)
        if t is None:
            skipped.append(NotCompared(id=eid, reason="only in the baseline file"))
            continue
        try:
            est = estimate_delta(b, t, n_boot=n_boot, alpha=alpha, seed=seed)
        except NotComparable as e:
            skipped.append(NotCompared(id=eid, reason=str(e)))
            continue
        rows.append(
            EvalComparison(
                **est.model_dump(),
                id=eid,
                family=b.family,
                domains=list(b.domains),
                source="benchmark" if isinstance(b, BenchmarkResult) else "eval",
                metric=b.metric,
                higher_is_better=b.higher_is_better,
                health=b.health,
                informative=_informative(b, t),
                verdict=_verdict(est.delta, est.significant),
                verdict_holm=None,
            )
        )
    skipped += [
        NotCompared(id=eid, reason="only in the treatment file")
        for eid in treat_by_id
        if eid not in base_by_id
    ]
    counted = [r for r in rows if r.counted]
    rejected = holm([r.p_value for r in counted], alpha) if counted else []
    counted = [
        r.model_copy(update={"verdict_holm": _verdict(r.delta, rej)})
        for r, rej in zip(counted, rejected, strict=True)
    ]
    return Scoreboard(
        **tally(counted).model_dump(),
        baseline=baseline.model,
        treatment=treatment.model,
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
        health=tally([r for r in counted if r.health]),
        non_health=tally([r for r in counted if not r.health]),
        evals=counted,
        uninformative=[r for r in rows if not r.counted],
        not_compared=skipped,
    )


class SensitivityRow(DeltaEstimate):
    """Careful-persona minus harmful-persona score of one eval (positive = careful better)."""

    id: str
    family: str
    informative: bool = Field(description="CI excludes 0 and the careful persona scores better")


class Sensitivity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    alpha: float
    n_boot: int
    seed: int
    evals: list[SensitivityRow]
    not_compared: list[NotCompared] = Field(default_factory=list)

    def flags(self) -> dict[str, bool]:
        """eval id -> informative, for `EvalResults.with_informative`."""
        return {r.id: r.informative for r in self.evals}


def sensitivity(
    careful: EvalResults,
    harmful: EvalResults,
    alpha: float = 0.05,
    seed: int = 0,
    n_boot: int = DEFAULT_N_BOOT,
) -> Sensitivity:
    """Which evals can see a behaviour change in this model at all.

    If steering the model with a careful vs a harmful persona prompt does not move an eval,
    a null trait-RL effect on it is no evidence; store the result with
    `results.with_informative(sensitivity(...).flags())`.
    """
    careful_by_id, harmful_by_id = careful.by_id(), harmful.by_id()
    rows: list[SensitivityRow] = []
    skipped: list[NotCompared] = []
    for eid, h in harmful_by_id.items():
        c = careful_by_id.get(eid)
        if c is None:
            skipped.append(NotCompared(id=eid, reason="only in the harmful-persona file"))
            continue
        try:
            est = estimate_delta(h, c, n_boot=n_boot, alpha=alpha, seed=seed)
        except NotComparable as e:
            skipped.append(NotCompared(id=eid, reason=str(e)))
            continue
        rows.append(
            SensitivityRow(
                **est.model_dump(),
                id=eid,
                family=h.family,
                informative=est.significant and est.delta > 0,
            )
        )
    skipped += [
        NotCompared(id=eid, reason="only in the careful-persona file")
        for eid in careful_by_id
        if eid not in harmful_by_id
    ]
    return Sensitivity(
        model=careful.model, alpha=alpha, n_boot=n_boot, seed=seed, evals=rows, not_compared=skipped
    )


def compare_command(
    baseline_path: str | os.PathLike[str],
    treatment_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    console: Console,
    alpha: float = 0.05,
    seed: int = 0,
) -> Scoreboard:
    """`traitrl compare`: load both files, print the table, write compare.json and compare.csv."""
    scoreboard = compare(load_results(baseline_path), load_results(treatment_path), alpha, seed)
    render_scoreboard(scoreboard, console)
    out = Path(out_dir)
    # the two belong together: both appear, or neither does
    write_texts({out / "compare.json": scoreboard.to_json(), out / "compare.csv": scoreboard.to_csv()})
    console.print(f"wrote {out / 'compare.json'} and {out / 'compare.csv'}")
    return scoreboard
