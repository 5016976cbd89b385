"""A sweep's summary: one row per cell from that cell's `results.json`, then `sweep.json` and a
self-contained `report.html` (`traitrl.report.sweep`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from traitrl.atomic import write_text
from traitrl.evals.stats import t_interval
from traitrl.report.endpoints import Endpoint, PersistenceEndpoints, known_differences, matched_drop
from traitrl.report.schema import RunResults, load_run_results
from traitrl.report.sweep import ALL_EVALS, CellSummary, SeedMean, SweepSummary, render_sweep
from traitrl.train.arms import CONTROL


def seed_mean(values: list[float]) -> SeedMean:
    if not values:
        return SeedMean(value=None)
    return SeedMean(value=float(np.mean(values)), ci=t_interval(values), per_seed=values)


def _labels(res: RunResults, arm: str) -> dict[int, str]:
    """seed -> the results key of `arm` trained with that seed."""
    return {a.seed if a.seed is not None else 0: key for key, a in res.arms.items() if (a.arm or key) == arm}


def _cell(cell, res: RunResults) -> CellSummary:
    base, trait = _labels(res, CONTROL), _labels(res, "trait")
    seeds = sorted(set(base) & set(trait))
    deltas, gains = [], []
    by_family: dict[str, list[float]] = {}
    for s in seeds:
        diffs: dict[str, list[float]] = {}
        for e in res.evals:
            b, t = e.scores.get(base[s]), e.scores.get(trait[s])
            if b is not None and t is not None and b.value is not None and t.value is not None:
                diffs.setdefault(e.family, []).append((t.value - b.value) * (1 if e.higher_is_better else -1))
        if diffs:
            deltas.append(float(np.mean([d for ds in diffs.values() for d in ds])))
        for family, ds in diffs.items():
            by_family.setdefault(family, []).append(float(np.mean(ds)))
        cb, ct = res.training_curves.get(base[s]), res.training_curves.get(trait[s])
        if cb and ct and cb.in_distribution_trait_score[-1] is not None and ct.in_distribution_trait_score[-1] is not None:
            gains.append(ct.in_distribution_trait_score[-1] - cb.in_distribution_trait_score[-1])
    sb = res.scoreboard.available().get(f"trait_vs_{CONTROL}")
    return CellSummary(
        name=cell.name, overrides=cell.overrides, left_out=cell.left_out, seeds=len(seeds),
        evals=sb.n if sb else 0, improved=sb.improved if sb else 0, regressed=sb.regressed if sb else 0,
        improved_holm=sb.holm.improved if sb else 0, improved_bh=sb.bh.improved if sb else 0,
        regressed_bh=sb.bh.regressed if sb else 0,
        mean_delta=seed_mean(deltas), in_distribution_gain=seed_mean(gains),
        family_delta={f: seed_mean(v) for f, v in sorted(by_family.items()) if len(v) == len(deltas)},
        **_persistence(res),
    )


def _persistence(res: RunResults) -> dict[str, SeedMean]:
    """The persistence endpoints trait − baseline on known harmful personas, one value per
    persisted seed (`run.persistence_seeds`): the three fixed in advance (score under attack,
    logit-scale drop, the matched start's drop), the final models' raw drop and the harmful and
    careful shares."""
    p = res.persistence
    seeds = p.endpoints_by_seed or ([p.endpoints] if p.endpoints is not None else [])

    def per_seed(read: Callable[[PersistenceEndpoints], dict[str, Endpoint]]) -> SeedMean:
        values = known_differences(seeds, read)
        return seed_mean(values) if values and None not in values else SeedMean(value=None)  # type: ignore[arg-type]

    return {"score_under_attack_difference": per_seed(lambda e: e.score_under_attack),
            "logit_drop_difference": per_seed(lambda e: e.logit_drop),
            "drop_difference": per_seed(lambda e: e.raw_drop), "matched_drop_difference": per_seed(matched_drop),
            "harmful_share_difference": per_seed(lambda e: e.harmful_share),
            "careful_share_difference": per_seed(lambda e: e.careful_share)}


def paired_difference(a: SeedMean, b: SeedMean) -> SeedMean:
    """a − b seed by seed (cells of one sweep share their RL seeds and baseline arms)."""
    if len(a.per_seed) != len(b.per_seed):
        return SeedMean(value=None)
    return seed_mean([x - y for x, y in zip(a.per_seed, b.per_seed, strict=True)])


def _against_reference(cell: CellSummary, rows: list[CellSummary]) -> CellSummary:
    """A leave-one-out cell with its differences from the cell with the same overrides and every trait."""
    rest = {k: v for k, v in cell.overrides.items() if k != "train.include_traits"}
    ref = next((c for c in rows if c.left_out is None and c.overrides == rest), None)
    if cell.left_out is None or ref is None:
        return cell
    diff = {ALL_EVALS: paired_difference(cell.mean_delta, ref.mean_delta)}
    diff |= {f: paired_difference(m, ref.family_delta[f]) for f, m in cell.family_delta.items() if f in ref.family_delta}
    return cell.model_copy(update={"reference_difference": diff})


def summarize(spec, cells, out: Path) -> SweepSummary:
    rows = [_cell(c, load_run_results(out / "cells" / c.name / "results.json")) for c in cells]
    return SweepSummary(name=spec.name, grid=spec.grid, cells=[_against_reference(c, rows) for c in rows])


def write_sweep(summary: SweepSummary, out: Path) -> Path:
    write_text(out / "sweep.json", summary.model_dump_json(indent=2) + "\n")
    write_text(out / "report.html", render_sweep(summary))
    return out / "sweep.json"
