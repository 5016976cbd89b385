"""Compare two arms eval by eval: cluster-bootstrap deltas, verdicts, "improved X of N".

`compare` is the paper's scoreboard (trait RL vs the compute-matched baseline). Each arm is one
results file or one per RL seed; the unit of replication is the seed, so with several seeds
per arm the CIs resample seeds and, within them, prompt clusters (`traitrl.evals.clustered`).
`sensitivity` runs the same delta between one model's careful- and harmful-persona
evaluations; its flags are an annotation on the scoreboard and never decide what is counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from traitrl.atomic import write_texts
from traitrl.errors import UserError
from traitrl.evals.clustered import clustered_delta
from traitrl.evals.pairing import (
    ClusterKey,
    NotComparable,
    align,
    item_cluster_key,
    prompt_cluster_key,
)
from traitrl.evals.results import BenchmarkResult, EvalResult, EvalResults, load_results
from traitrl.evals.scoreboard import (
    DeltaEstimate,
    EvalComparison,
    NotCompared,
    Scoreboard,
    Verdict,
    render_scoreboard,
    tally,
)
from traitrl.evals.stats import benjamini_hochberg, derive_seed, holm

__all__ = [
    "DeltaEstimate",
    "EvalComparison",
    "NotComparable",
    "NotCompared",
    "Scoreboard",
    "Sensitivity",
    "SensitivityRow",
    "compare",
    "compare_command",
    "estimate_delta",
    "item_cluster_key",
    "prompt_cluster_key",
    "render_scoreboard",
    "sensitivity",
]

# 10 000 resamples: bootstrap p-values resolve to 2 / (n_boot + 1) ~ 0.0002, below the
# smallest Holm threshold for 53 evals (0.05 / 53 ~ 0.00094).
DEFAULT_N_BOOT = 10_000

Arm = EvalResults | Sequence[EvalResults]

_KEY_NAMES = {
    prompt_cluster_key: "the prompt with its greeting opener removed",
    item_cluster_key: "item_id (every item its own cluster)",
}


def _seed_list(arm: Arm, side: str) -> list[EvalResults]:
    seeds = [arm] if isinstance(arm, EvalResults) else list(arm)
    if not seeds:
        raise UserError(f"no {side} results given (pass one results file per RL seed)")
    return seeds


def _key_name(key: ClusterKey) -> str:
    return _KEY_NAMES.get(key, getattr(key, "__name__", repr(key)))


def estimate_delta(
    baseline: EvalResult | Sequence[EvalResult],
    treatment: EvalResult | Sequence[EvalResult],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = 0.05,
    seed: int = 0,
    n_perm: int | None = None,
    cluster_key: ClusterKey = prompt_cluster_key,
) -> DeltaEstimate:
    """The delta of one eval, oriented so positive = treatment better; each side one result or
    one per RL seed (the same items in every seed).

    Paired by item_id where the item sets match (see `traitrl.evals.pairing.align`); the
    resampling is seeded per eval id so adding or reordering evals changes no other eval.
    """
    a_seeds = [baseline] if isinstance(baseline, EvalResult) else list(baseline)
    b_seeds = [treatment] if isinstance(treatment, EvalResult) else list(treatment)
    al = align(a_seeds, b_seeds, cluster_key)
    first = a_seeds[0]
    est = clustered_delta(
        al.baseline, al.treatment, al.clusters_baseline, al.clusters_treatment,
        n_boot=n_boot, n_perm=n_perm, alpha=alpha, seed=derive_seed(seed, first.id),
    )
    delta, (lo, hi) = est.delta, est.ci
    if not first.higher_is_better:
        delta, lo, hi = -delta, -hi, -lo
    notes = [al.note] if al.note else []
    if est.degenerate:
        notes.append(
            f"every resample gave the same delta: the CI has no width and the p-value is the "
            f"{est.permutation.replace('_', ' ')} permutation test's"
        )
    return DeltaEstimate(
        delta=delta,
        ci=(lo, hi),
        p_value=est.p_value,
        pairing=al.pairing,  # type: ignore[arg-type]
        n_baseline=al.baseline.shape[1],
        n_treatment=al.treatment.shape[1],
        baseline=float(np.nanmean(al.baseline)),
        treatment=float(np.nanmean(al.treatment)),
        note="; ".join(notes),
        p_bootstrap=est.p_bootstrap,
        p_permutation=est.p_permutation,
        permutation=est.permutation,
        n_clusters=est.n_clusters,
        n_seeds_baseline=len(a_seeds),
        n_seeds_treatment=len(b_seeds),
        ci_covers=est.ci_covers,
    )


def _verdict(delta: float, significant: bool) -> Verdict:
    if not significant:
        return "no_change"
    return "improved" if delta > 0 else "regressed"


def _persona_sensitive(results: list[EvalResult]) -> bool | None:
    flags = [r.informative for r in results]
    if False in flags:
        return False
    return True if all(flags) else None


def _per_seed(seeds: list[EvalResults], eid: str, side: str) -> list[EvalResult] | str:
    """The eval in every seed of one side, or the reason it is missing."""
    found = [s.by_id().get(eid) for s in seeds]
    if all(r is None for r in found):
        return f"only in the {'treatment' if side == 'baseline' else 'baseline'} file"
    missing = [k for k, r in enumerate(found, start=1) if r is None]
    if missing:
        return f"missing from {side} seed {missing[0]} of {len(seeds)}"
    return [r for r in found if r is not None]


def _group(relation: str | None, tagged: bool) -> str:
    return (relation or "untagged") if tagged else "all"


def compare(
    baseline: Arm,
    treatment: Arm,
    alpha: float = 0.05,
    seed: int = 0,
    n_boot: int = DEFAULT_N_BOOT,
    *,
    n_perm: int | None = None,
    cluster_key: ClusterKey = prompt_cluster_key,
) -> Scoreboard:
    """Treatment vs baseline on every eval present in both, with verdicts and X-of-N counts.

    Each side is one `EvalResults` or a list of them, one per RL seed (the same items in every
    seed; items paired by item_id across arms, seeds unpaired). Verdict: `improved` /
    `regressed` when p <= alpha and the `1 - alpha` CI of the oriented delta lies above /
    below 0, else `no_change`; Holm and Benjamini-Hochberg verdicts correct over every compared
    eval. Every eval with a scored item in both arms is counted; the headline counts are the
    held-out evals' when evals carry `rl_relation`, else all of them.
    """
    bases, treats = _seed_list(baseline, "baseline"), _seed_list(treatment, "treatment")
    rows: list[EvalComparison] = []
    skipped: list[NotCompared] = []
    ids = list(dict.fromkeys(e for s in bases for e in s.by_id()))
    tagged = any(r.rl_relation is not None for s in [*bases, *treats] for r in s.all_evals())
    for eid in ids:
        found_b, found_t = _per_seed(bases, eid, "baseline"), _per_seed(treats, eid, "treatment")
        reason = found_b if isinstance(found_b, str) else found_t if isinstance(found_t, str) else None
        if reason is not None:
            skipped.append(NotCompared(id=eid, reason=reason))
            continue
        assert not isinstance(found_b, str) and not isinstance(found_t, str)
        try:
            est = estimate_delta(found_b, found_t, n_boot=n_boot, alpha=alpha, seed=seed,
                                 n_perm=n_perm, cluster_key=cluster_key)
        except NotComparable as e:
            skipped.append(NotCompared(id=eid, reason=str(e)))
            continue
        b = found_b[0]
        relation = next((r.rl_relation for r in [*found_b, *found_t] if r.rl_relation), None)
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
                informative=None,
                persona_sensitive=_persona_sensitive([*found_b, *found_t]),
                rl_relation=relation,
                group=_group(relation, tagged),
                verdict=_verdict(est.delta, est.significant_at(alpha)),
                verdict_holm=None,
            )
        )
    in_base = set(ids)
    skipped += [
        NotCompared(id=eid, reason="only in the treatment file")
        for eid in dict.fromkeys(e for s in treats for e in s.by_id())
        if eid not in in_base
    ]
    pvalues = [r.p_value for r in rows]
    rej_holm, rej_bh = holm(pvalues, alpha), benjamini_hochberg(pvalues, alpha)
    rows = [
        r.model_copy(update={"verdict_holm": _verdict(r.delta, h), "verdict_bh": _verdict(r.delta, q)})
        for r, h, q in zip(rows, rej_holm, rej_bh, strict=True)
    ]
    groups = {g: tally([r for r in rows if r.group == g]) for g in dict.fromkeys(r.group for r in rows)}
    head = "held_out" if "held_out" in groups else "all"
    counted = [r for r in rows if head == "all" or r.group == head]
    return Scoreboard(
        **tally(counted).model_dump(),
        baseline=_name(bases),
        treatment=_name(treats),
        alpha=alpha,
        n_boot=n_boot,
        n_perm=n_boot if n_perm is None else n_perm,
        seed=seed,
        n_seeds_baseline=len(bases),
        n_seeds_treatment=len(treats),
        ci_covers="seeds+items" if len(bases) > 1 and len(treats) > 1 else "items",
        cluster_key=_key_name(cluster_key),
        headline_group=head,
        groups=groups,
        overall=tally(rows),
        health=tally([r for r in counted if r.health]),
        non_health=tally([r for r in counted if not r.health]),
        evals=rows,
        not_compared=skipped,
    )


def _name(seeds: list[EvalResults]) -> str:
    return ", ".join(dict.fromkeys(s.model for s in seeds))


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
                informative=est.significant_at(alpha) and est.delta > 0,
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
    baseline_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    treatment_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    console: Console,
    alpha: float = 0.05,
    seed: int = 0,
    n_boot: int = DEFAULT_N_BOOT,
) -> Scoreboard:
    """`traitrl compare`: load both sides (a path or a list, one file per RL seed), print the
    table, write compare.json and compare.csv."""

    def load(p: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[EvalResults]:
        paths = [p] if isinstance(p, str | os.PathLike) else list(p)
        return [load_results(x) for x in paths]

    scoreboard = compare(load(baseline_path), load(treatment_path), alpha, seed, n_boot)
    render_scoreboard(scoreboard, console)
    out = Path(out_dir)
    # the two belong together: both appear, or neither does
    write_texts({out / "compare.json": scoreboard.to_json(), out / "compare.csv": scoreboard.to_csv()})
    console.print(f"wrote {out / 'compare.json'} and {out / 'compare.csv'}")
    return scoreboard
