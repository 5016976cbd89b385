"""The delta of one eval when items are clustered and each arm has one or more RL seeds.

Inputs are score matrices, one row per RL seed and one column per item (NaN = unscored), and a
cluster index per item (items built from one prompt share a cluster). Two numbers come out:

- a **two-level cluster bootstrap** CI: each resample draws the seeds of each arm with
  replacement (seeds are *unpaired*: arms trained on different data share no random effect
  through their seed number) and, within them, the clusters with replacement (paired arms
  draw the same clusters, so an item's difficulty cancels). Seeds and clusters are crossed,
  not nested (every seed answers every item), so this is Owen's (2007) "pigeonhole" bootstrap,
  which errs on the wide side. With one seed per arm it is a cluster bootstrap over items
  alone and the CI covers item variance only; with three seeds, resampling them captures about
  2/3 of the between-seed variance (the (n - 1) / n of any n-point bootstrap).
- a **permutation p-value** over clusters: a sign flip of each cluster's paired difference
  (exact enumeration up to `MAX_EXACT_CLUSTERS` clusters, Monte Carlo beyond), or for unpaired
  arms a relabelling of clusters between the arms. It is exact for "treatment and baseline
  are exchangeable within each cluster", and it cannot be fooled by a constant difference: one
  item with delta 0.5 has two sign patterns, both as extreme, so p = 1.

The reported p-value is the larger of the bootstrap's and the permutation test's. Each is valid
for its own null (the bootstrap's includes training variance but is only asymptotic and
collapses with few clusters; the permutation test's is exact but blind to seeds); the larger
is valid for both.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

CICovers = Literal["items", "seeds+items"]
PermutationKind = Literal["exact", "monte_carlo"]

# Exact sign-flip enumeration up to 2**16 = 65 536 patterns; exact relabelling up to this many.
MAX_EXACT_CLUSTERS = 16
MAX_EXACT_LABELLINGS = 20_000
# Resample matrices are chunked to bound memory at ~32 MB.
_MAX_CELLS = 4_000_000
# Resampled deltas are rounded to this many decimals so float noise in a ratio of sums does
# not split a constant bootstrap distribution into two tails.
_DECIMALS = 12


@dataclass(frozen=True)
class ClusteredDelta:
    """`delta` = treatment mean - baseline mean (raw metric sign), its CI and p-values."""

    delta: float
    ci: tuple[float, float]
    p_value: float
    p_bootstrap: float
    p_permutation: float
    permutation: PermutationKind
    n_clusters: int
    ci_covers: CICovers
    degenerate: bool  # every bootstrap resample gave the same delta


def _check(x: np.ndarray, clusters: np.ndarray, name: str) -> None:
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a (seeds, items) matrix with at least one seed")
    if clusters.shape != (x.shape[1],):
        raise ValueError(f"{name}: one cluster index per item expected, got {clusters.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no items")
    if np.any(np.all(np.isnan(x), axis=0)):
        raise ValueError(f"{name}: every item needs a score in at least one seed")


def _canonical(x: np.ndarray) -> np.ndarray:
    """Seeds in a canonical order: they are unpaired, so the order they came in must not change
    a single resample."""
    return x[np.lexsort(np.nan_to_num(x, nan=-np.inf).T[::-1])]


def _cluster_sums(x: np.ndarray, clusters: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Per seed and cluster: the sum of scored items and their number, shapes (seeds, C)."""
    scored = ~np.isnan(x)
    sums = np.zeros((x.shape[0], n_clusters))
    counts = np.zeros((x.shape[0], n_clusters))
    for s in range(x.shape[0]):
        sums[s] = np.bincount(clusters, weights=np.where(scored[s], x[s], 0.0), minlength=n_clusters)
        counts[s] = np.bincount(clusters, weights=scored[s].astype(float), minlength=n_clusters)
    return sums, counts


def _weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Bootstrap multiplicities: how often each of `n` units is drawn, shape (size, n)."""
    if n == 1:
        return np.ones((size, 1))
    # Index draws counted per row: the multinomial law, several times faster than multinomial().
    flat = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
    return np.bincount(flat.reshape(-1), minlength=size * n).reshape(size, n).astype(float)


def _means(sums: np.ndarray, counts: np.ndarray, seed_w: np.ndarray, clus_w: np.ndarray) -> np.ndarray:
    # sum_s sum_c seed_w[r, s] * clus_w[r, c] * sums[s, c], as one (r, C) @ (C, seeds) product
    num = ((clus_w @ sums.T) * seed_w).sum(axis=1)
    den = ((clus_w @ counts.T) * seed_w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _bootstrap(
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    paired: bool,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """`n_boot` resampled deltas (NaN where a resample drew no scored item)."""
    (sa, na), (sb, nb) = a, b
    width = max(sa.shape[1], sb.shape[1]) * (1 if paired else 2)
    chunk = max(1, _MAX_CELLS // width)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        wa = _weights(rng, sa.shape[0], size)
        wb = _weights(rng, sb.shape[0], size)
        ca = _weights(rng, sa.shape[1], size)
        cb = ca if paired else _weights(rng, sb.shape[1], size)
        out[start : start + size] = _means(sb, nb, wb, cb) - _means(sa, na, wa, ca)
    return np.round(out, _DECIMALS)


def _bootstrap_p(boot: np.ndarray) -> float:
    """Twice the smaller tail mass at 0, +1-corrected (a finite resample never claims p = 0)."""
    below = int(np.count_nonzero(boot <= 0))
    above = int(np.count_nonzero(boot >= 0))
    return min(1.0, 2.0 * (1 + min(below, above)) / (boot.size + 1))


def _item_means(x: np.ndarray) -> np.ndarray:
    """Each item's score averaged over the seeds that scored it."""
    return np.nanmean(x, axis=0)


def sign_flip_p(totals: np.ndarray, n_perm: int, rng: np.random.Generator) -> tuple[float, PermutationKind]:
    """Two-sided sign-flip p-value of `sum(totals) = 0`, `totals` being per-cluster sums of
    paired differences. Clusters with total 0 are dropped (either sign gives the same sum, so
    the p-value does not change). Exact: the share of the 2**C sign patterns whose |sum| reaches
    the observed one. Monte Carlo: `(1 + hits) / (n_perm + 1)`."""
    t = np.asarray(totals, dtype=float)
    t = t[np.abs(t) > 10.0**-_DECIMALS]
    if t.size == 0:
        return 1.0, "exact"
    observed = abs(t.sum()) - 10.0**-_DECIMALS
    if t.size <= MAX_EXACT_CLUSTERS:
        patterns = 1.0 - 2.0 * ((np.arange(2**t.size)[:, None] >> np.arange(t.size)) & 1)
        return float(np.mean(np.abs(patterns @ t) >= observed)), "exact"
    hits = 0
    chunk = max(1, _MAX_CELLS // t.size)
    for start in range(0, n_perm, chunk):
        size = min(chunk, n_perm - start)
        flips = rng.random((size, t.size)) < 0.5
        # sum(sign * t) = total - 2 * sum(t over the flipped clusters)
        hits += int(np.count_nonzero(np.abs(t.sum() - 2.0 * (flips @ t)) >= observed))
    return (1 + hits) / (n_perm + 1), "monte_carlo"


def relabel_p(
    totals: np.ndarray, counts: np.ndarray, n_treatment: int, n_perm: int, rng: np.random.Generator
) -> tuple[float, PermutationKind]:
    """Two-sided permutation p-value for unpaired arms: clusters (sum of item scores, number of
    items) are pooled and the first `n_treatment` are the treatment's; relabel them at random
    (exactly, over every labelling, when there are at most `MAX_EXACT_LABELLINGS`)."""
    totals, counts = np.asarray(totals, float), np.asarray(counts, float)
    n = totals.size

    def stat(mask: np.ndarray) -> np.ndarray:  # mask: (k, n) True = treatment
        tb, nb = mask @ totals, mask @ counts
        ta, na = totals.sum() - tb, counts.sum() - nb
        return np.abs(tb / nb - ta / na)

    first = np.zeros((1, n))
    first[0, :n_treatment] = 1.0
    observed = float(stat(first)[0]) - 10.0**-_DECIMALS
    if math.comb(n, n_treatment) <= MAX_EXACT_LABELLINGS:
        masks = np.zeros((math.comb(n, n_treatment), n))
        for row, chosen in enumerate(itertools.combinations(range(n), n_treatment)):
            masks[row, list(chosen)] = 1.0
        return float(np.mean(stat(masks) >= observed)), "exact"
    hits = 0
    chunk = max(1, _MAX_CELLS // n)
    for start in range(0, n_perm, chunk):
        size = min(chunk, n_perm - start)
        ranks = np.argsort(rng.random((size, n)), axis=1)
        hits += int(np.count_nonzero(stat((ranks < n_treatment).astype(float)) >= observed))
    return (1 + hits) / (n_perm + 1), "monte_carlo"


def clustered_delta(
    a: np.ndarray,
    b: np.ndarray,
    clusters_a: np.ndarray,
    clusters_b: np.ndarray | None = None,
    *,
    n_boot: int = 10_000,
    n_perm: int | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> ClusteredDelta:
    """Treatment `b` minus baseline `a`, each a (seeds, items) score matrix (NaN = unscored).

    `clusters_b=None`: paired, the columns of `a` and `b` are the same items and `clusters_a`
    their cluster indices. Otherwise unpaired: each arm has its own items and clusters.
    `n_perm` Monte Carlo permutations (default `n_boot`). Seeded: the same inputs and seed give
    the same numbers.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    a, b = _canonical(np.asarray(a, dtype=float)), _canonical(np.asarray(b, dtype=float))
    paired = clusters_b is None
    ca = np.unique(np.asarray(clusters_a), return_inverse=True)[1].reshape(-1)
    cb = ca if paired else np.unique(np.asarray(clusters_b), return_inverse=True)[1].reshape(-1)
    _check(a, ca, "baseline")
    _check(b, cb, "treatment")
    if paired and a.shape[1] != b.shape[1]:
        raise ValueError(f"paired arms differ in items: {a.shape[1]} vs {b.shape[1]}")
    kc_a, kc_b = int(ca.max()) + 1, int(cb.max()) + 1
    sums_a, sums_b = _cluster_sums(a, ca, kc_a), _cluster_sums(b, cb, kc_b)
    delta = float(sums_b[0].sum() / sums_b[1].sum() - sums_a[0].sum() / sums_a[1].sum())
    rng = np.random.default_rng(seed)
    boot = _bootstrap(sums_a, sums_b, paired, n_boot, rng)
    boot = boot[np.isfinite(boot)]
    lo, hi = (float(q) for q in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    p_boot = _bootstrap_p(boot)
    perm_rng = np.random.default_rng([seed, 1])
    n_perm = n_boot if n_perm is None else n_perm
    if paired:
        diffs = _item_means(b) - _item_means(a)
        p_perm, kind = sign_flip_p(np.bincount(ca, weights=diffs, minlength=kc_a), n_perm, perm_rng)
    else:
        ta = np.bincount(ca, weights=_item_means(a), minlength=kc_a)
        tb = np.bincount(cb, weights=_item_means(b), minlength=kc_b)
        totals = np.concatenate([tb, ta])
        counts = np.concatenate([np.bincount(cb, minlength=kc_b), np.bincount(ca, minlength=kc_a)])
        p_perm, kind = relabel_p(totals, counts, kc_b, n_perm, perm_rng)
    covers: CICovers = "seeds+items" if a.shape[0] > 1 and b.shape[0] > 1 else "items"
    return ClusteredDelta(
        delta=delta,
        ci=(lo, hi),
        p_value=max(p_boot, p_perm),
        p_bootstrap=p_boot,
        p_permutation=p_perm,
        permutation=kind,
        n_clusters=kc_a if paired else kc_a + kc_b,
        ci_covers=covers,
        degenerate=bool(np.all(boot == boot[0])),
    )
