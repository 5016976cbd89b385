"""Confidence intervals, paired deltas and multiple-testing correction for eval metrics.

Everything is a seeded, vectorised numpy bootstrap (percentile intervals), so a number in a
report can be recomputed exactly from the per-item scores and the seed. The scoreboard's
seed-and-cluster version is `traitrl.evals.clustered`. Scores are plain float
arrays here: dropping unscored items and pairing items by id is the caller's job
(`traitrl.evals.compare`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from traitrl.evals.clustered import sign_flip_p

CIMethod = Literal["percentile", "wilson"]

# Resampling through a (n_boot, n) index matrix is chunked to bound memory at ~32 MB.
_MAX_CELLS = 4_000_000
# Below this many distinct values a multinomial over the values is exact and much faster.
_MAX_LEVELS = 64


def _as_scores(x: ArrayLike, name: str = "scores") -> np.ndarray:
    arr = np.asarray(x, dtype=float).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite numbers (drop unscored items before calling)")
    return arr


def _check(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def derive_seed(seed: int, key: str) -> int:
    """A stable per-key seed, so each eval gets its own random stream whatever the eval order
    (one shared stream would correlate the bootstrap noise of evals of equal size)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def resample_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """`n_boot` bootstrap means of `x` (resampling with replacement), shape `(n_boot,)`.

    For data with few distinct values (binary scores, paired differences in {-1, 0, 1}) the
    resample is drawn as multinomial counts over the values: the same distribution as index
    resampling, at a cost independent of n.
    """
    n = x.size
    values, counts = np.unique(x, return_counts=True)
    if values.size <= _MAX_LEVELS:
        draws = rng.multinomial(n, counts / n, size=n_boot)
        return draws @ values / n
    out = np.empty(n_boot)
    chunk = max(1, _MAX_CELLS // n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = x[idx].mean(axis=1)
    return out


def _percentiles(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _two_sided_p(boot: np.ndarray) -> float:
    """Bootstrap p-value for 'the delta is 0': twice the smaller tail mass at 0, with the +1
    correction so a finite resample never claims p = 0. Consistent with the percentile CI: the
    CI excludes 0 roughly when p < alpha. Its resolution is 2 / (n_boot + 1), which is why
    comparisons use n_boot = 10 000 (Holm over 53 evals needs p below 0.05 / 53 ~ 0.00094)."""
    below = int(np.count_nonzero(boot <= 0))
    above = int(np.count_nonzero(boot >= 0))
    return min(1.0, 2.0 * (1 + min(below, above)) / (boot.size + 1))


def _constant_p(delta: float, n_boot: int) -> float:
    """The p-value every resample would give when the bootstrap distribution is one point."""
    return 1.0 if delta == 0 else min(1.0, 2.0 / (n_boot + 1))


def t_interval(values: Sequence[float], alpha: float = 0.05) -> tuple[float, float] | None:
    """The t-interval on the mean of a few values (seeds, or a family's items); None below two."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return None
    from scipy.stats import t

    half = float(t.ppf(1 - alpha / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return float(x.mean() - half), float(x.mean() + half)


def wilson_ci(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """Wilson score interval for a proportion: `(p_hat, lo, hi)`; NaNs when n = 0.

    Better than the bootstrap for small n or rates near 0 or 1, where a percentile bootstrap
    collapses to a zero-width interval.
    """
    if n == 0:
        return math.nan, math.nan, math.nan
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = float(norm.ppf(1 - alpha / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_ci(
    scores: ArrayLike,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    method: CIMethod = "percentile",
) -> tuple[float, float, float]:
    """Mean of `scores` with a `1 - alpha` interval: `(mean, lo, hi)`.

    `method="percentile"` is the seeded percentile bootstrap; `method="wilson"` is the Wilson
    interval and needs binary (0/1) scores. An empty array gives NaNs (no data is not a zero);
    a constant array gives a zero-width interval.
    """
    _check(n_boot, alpha)
    x = _as_scores(scores)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    if method == "wilson":
        if not np.all((x == 0) | (x == 1)):
            raise ValueError("the Wilson interval needs binary scores (0 or 1)")
        return wilson_ci(int(x.sum()), int(x.size), alpha)
    if method != "percentile":
        raise ValueError(f"unknown CI method {method!r} (allowed: percentile, wilson)")
    mean = float(x.mean())
    if np.all(x == x[0]):
        return mean, mean, mean
    boot = resample_means(x, n_boot, np.random.default_rng(seed))
    lo, hi = _percentiles(boot, alpha)
    return mean, lo, hi


def paired_bootstrap_delta(
    a: ArrayLike,
    b: ArrayLike,
    n_boot: int = 10_000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float, float]:
    """Paired delta `mean(b - a)` with its percentile CI and two-sided p-value (the larger of
    the bootstrap's and the sign-flip permutation test's over items): `(delta, lo, hi, p_value)`.

    `a[i]` and `b[i]` must be scores of the same item (e.g. baseline and treatment); resampling
    items, not the two sides separately, removes the between-item variance from the CI. NaNs
    when there are no pairs; a constant difference gives a zero-width CI (p = 1 if it is 0).
    """
    _check(n_boot, alpha)
    xa, xb = _as_scores(a, "a"), _as_scores(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"paired arrays differ in length: {xa.size} vs {xb.size}")
    if xa.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    d = xb - xa
    delta = float(d.mean())
    # The bootstrap alone gives a constant difference p = 2 / (n_boot + 1) however few the
    # items; the sign-flip test over items does not (one item: p = 1). Report the larger.
    p_flip, _ = sign_flip_p(d, n_boot, np.random.default_rng([seed, 1]))
    if np.all(d == d[0]):
        return delta, delta, delta, max(_constant_p(delta, n_boot), p_flip)
    boot = resample_means(d, n_boot, np.random.default_rng(seed))
    lo, hi = _percentiles(boot, alpha)
    return delta, lo, hi, max(_two_sided_p(boot), p_flip)


def unpaired_bootstrap_delta(
    a: ArrayLike,
    b: ArrayLike,
    n_boot: int = 10_000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float, float]:
    """Unpaired delta `mean(b) - mean(a)`, each side resampled on its own:
    `(delta, lo, hi, p_value)`. For item sets that cannot be matched one to one."""
    _check(n_boot, alpha)
    xa, xb = _as_scores(a, "a"), _as_scores(b, "b")
    if xa.size == 0 or xb.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    delta = float(xb.mean() - xa.mean())
    if np.all(xa == xa[0]) and np.all(xb == xb[0]):
        return delta, delta, delta, _constant_p(delta, n_boot)
    rng = np.random.default_rng(seed)
    boot = resample_means(xb, n_boot, rng) - resample_means(xa, n_boot, rng)
    lo, hi = _percentiles(boot, alpha)
    return delta, lo, hi, _two_sided_p(boot)


def _pvalues(pvalues: Sequence[float], alpha: float) -> np.ndarray:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be numbers in [0, 1]")
    return p


def benjamini_hochberg(pvalues: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Benjamini-Hochberg step-up: which hypotheses are rejected at false discovery rate `alpha`.

    Sort the p-values ascending; find the largest k (from 1) with `p_(k) <= k * alpha / m` and
    reject the k smallest, including any earlier one above its own threshold. Controls the FDR
    for independent or positively dependent tests; rejects at least as many as Holm.
    """
    p = _pvalues(pvalues, alpha)
    m = p.size
    order = np.argsort(p, kind="stable")
    below = np.nonzero(p[order] <= alpha * np.arange(1, m + 1) / max(m, 1))[0]
    reject = [False] * m
    for i in order[: below[-1] + 1 if below.size else 0]:
        reject[int(i)] = True
    return reject


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise error `alpha`.

    Sort the p-values ascending; reject while `p_(k) <= alpha / (m - k)` (k from 0) and stop at
    the first that fails. Uniformly more powerful than Bonferroni, valid under any dependence.
    """
    p = _pvalues(pvalues, alpha)
    m = p.size
    reject = [False] * m
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (m - rank):
            break
        reject[int(i)] = True
    return reject
