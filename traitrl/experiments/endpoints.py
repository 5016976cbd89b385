"""The persistence endpoints fixed in advance in docs/organism.md §4, from the prompting
experiment's per-item results.

1. score under attack: the aligned score under harmful role prompts;
2. logit-scale drop: logit(none) - logit(harmful), which removes the floor effect of a raw drop
   from different starts;
3. matched start: the first trait checkpoint whose no-prompt score reaches the final baseline's,
   its raw harmful-prompt drop against the final baseline's;
4. selectivity: the harmful drop as a share of the aligned mass, (none - harmful) / none, beside
   the careful rise as a share of the movable mass, (careful - none) / (1 - none).

Each endpoint is `model - reference` (trait - baseline) with a paired percentile bootstrap over
items: the same items were asked of both models under every condition, so one resample of item
ids is applied to every model and condition at once. The CIs cover item sampling only: the
prompting experiment runs on the first seed's arms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from traitrl.evals.results import load_results
from traitrl.evals.stats import derive_seed
from traitrl.persistence.prompting import CONDITIONS, PERSONA_SETS, condition_file
from traitrl.persistence.stats import pooled_items
from traitrl.report.endpoints import Endpoint, MatchedStart, PersistenceEndpoints

Means = dict[str, float]  # condition -> mean oriented score
EPS = 1e-3  # logits are taken of scores clipped to [EPS, 1 - EPS]


def _logit(p: float) -> float:
    q = min(max(p, EPS), 1 - EPS)
    return float(np.log(q / (1 - q)))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


STATS: dict[str, Callable[[Means, str, str], float]] = {
    "score_under_attack": lambda m, harm, _: m[harm],
    "logit_drop": lambda m, harm, _: _logit(m["none"]) - _logit(m[harm]),
    "raw_drop": lambda m, harm, _: m["none"] - m[harm],
    "harmful_share": lambda m, harm, _: _ratio(m["none"] - m[harm], m["none"]),
    "careful_share": lambda m, _, helpful: _ratio(m[helpful] - m["none"], 1 - m["none"]),
}


def condition_items(folder: Path, model: str, conditions: Sequence[str] = tuple(CONDITIONS)) -> dict[str, dict[str, float]]:
    """condition -> item_id -> oriented score, from a prompting folder's per-item files."""
    return {c: pooled_items(load_results(condition_file(folder, model, c))) for c in conditions}


def _matrix(items: dict[str, dict[str, float]], ids: list[str], conditions: Sequence[str]) -> np.ndarray:
    return np.array([[items[c][i] for c in conditions] for i in ids], dtype=float)


def _endpoint(stat: Callable[[Means, str, str], float], ref: np.ndarray, mod: np.ndarray, conditions: Sequence[str],
              harm: str, helpful: str, n_boot: int, seed: int) -> Endpoint:
    def value(m: np.ndarray) -> float:
        return stat(dict(zip(conditions, m.mean(axis=0), strict=True)), harm, helpful)

    n = len(ref)
    if n == 0:
        return Endpoint(reference=None, model=None, difference=None, n=0)
    r, m = value(ref), value(mod)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        diffs.append(value(mod[idx]) - value(ref[idx]))
    d = np.array([x for x in diffs if np.isfinite(x)])
    finite = np.isfinite(r) and np.isfinite(m)
    if not finite or len(d) == 0:
        return Endpoint(reference=_clean(r), model=_clean(m), difference=None, n=n)
    lo, hi = np.percentile(d, [2.5, 97.5])
    p = min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))
    return Endpoint(reference=r, model=m, difference=m - r, ci=(float(lo), float(hi)), p_value=float(p), n=n)


def _clean(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def compare_conditions(ref: dict[str, dict[str, float]], mod: dict[str, dict[str, float]], stat_names: Sequence[str],
                       n_boot: int, seed: int) -> dict[str, dict[str, Endpoint]]:
    """stat -> persona set -> Endpoint, over the items both models scored under every condition."""
    conditions = sorted(set(ref) & set(mod))
    ids = sorted(set.intersection(*(set(ref[c]) & set(mod[c]) for c in conditions)))
    a, b = _matrix(ref, ids, conditions), _matrix(mod, ids, conditions)
    out: dict[str, dict[str, Endpoint]] = {}
    for name in stat_names:
        out[name] = {}
        for pset, (harm, helpful) in PERSONA_SETS.items():
            if harm in conditions and (helpful in conditions or name != "careful_share"):
                out[name][pset] = _endpoint(STATS[name], a, b, conditions, harm, helpful, n_boot,
                                            derive_seed(seed, f"{name}:{pset}"))
    return out


def matched_pair(trait_curve: Sequence[tuple[int, float | None]],
                 baseline_curve: Sequence[tuple[int, float | None]]) -> tuple[int, int] | None:
    """Endpoint 3's pair (docs/organism.md §4): over both arms' RL checkpoints — step 0, the pre-RL
    organism, is no checkpoint of either — the (trait step, baseline step) whose no-prompt curve
    scores are closest. Ties go to the later trait step, then the later baseline step (more RL
    behind both). None when either arm has no scored RL checkpoint."""
    trait = [(s, v) for s, v in trait_curve if s > 0 and v is not None]
    base = [(s, v) for s, v in baseline_curve if s > 0 and v is not None]
    if not trait or not base:
        return None
    _, t, b = min((abs(tv - bv), -ts, -bs) for ts, tv in trait for bs, bv in base)
    return -t, -b


def persistence_endpoints(folder: Path, reference: str, model: str, n_boot: int, seed: int,
                          matched: MatchedStart | None = None) -> PersistenceEndpoints:
    """Endpoints 1, 2 and 4 from the prompting folder; endpoint 3 is computed by `matched_drop`."""
    ends = compare_conditions(condition_items(folder, reference), condition_items(folder, model),
                              list(STATS), n_boot, seed)
    return PersistenceEndpoints(reference=reference, model=model, n_boot=n_boot, matched_start=matched, **ends)


def matched_drop(reference: tuple[Path, str], model: tuple[Path, str], steps: tuple[int, int],
                 curve_scores: tuple[float | None, float | None], n_boot: int, seed: int) -> MatchedStart:
    """Endpoint 3: the matched trait checkpoint's raw harmful drop against the matched baseline
    checkpoint's; `reference` and `model` are (prompting folder, model name), `steps` and
    `curve_scores` are (trait, baseline)."""
    conds = ("none", *(h for h, _ in PERSONA_SETS.values()))
    ends = compare_conditions(condition_items(*reference, conds), condition_items(*model, conds), ["raw_drop"],
                              n_boot, seed)
    return MatchedStart(step=steps[0], baseline_step=steps[1], trait_curve_score=curve_scores[0],
                        baseline_curve_score=curve_scores[1], drop=ends["raw_drop"])
