"""The seed-and-cluster bootstrap and the permutation p-values, against numbers worked by hand."""

from __future__ import annotations

import time

import numpy as np
import pytest

from traitrl.evals.clustered import clustered_delta, relabel_p, sign_flip_p

RNG = np.random.default_rng

# ---- sign flips, exact and Monte Carlo ----


def test_one_cluster_can_never_be_significant():
    # Two sign patterns, +0.5 and -0.5, both as extreme as the observed 0.5: p = 2/2 = 1.
    assert sign_flip_p(np.array([0.5]), 1000, RNG(0)) == (1.0, "exact")


def test_exact_sign_flip_by_hand():
    # Ten clusters each +0.5: only all-plus and all-minus reach |5|, so p = 2 / 2**10.
    assert sign_flip_p(np.full(10, 0.5), 1000, RNG(0)) == (2 / 1024, "exact")
    # [3, 1]: the four sums are 4, 2, -2, -4; |sum| >= 4 for two of them: p = 1/2.
    assert sign_flip_p(np.array([3.0, 1.0]), 1000, RNG(0)) == (0.5, "exact")
    # [1, -1, 0]: the observed sum is 0, every pattern is as extreme; the 0 is dropped.
    assert sign_flip_p(np.array([1.0, -1.0, 0.0]), 1000, RNG(0)) == (1.0, "exact")
    assert sign_flip_p(np.zeros(5), 1000, RNG(0)) == (1.0, "exact")


def test_monte_carlo_sign_flip_beyond_sixteen_clusters():
    # 100 clusters of +0.5: a random pattern reaches |50| with probability 2**-99, so no draw
    # of 9 999 does and p = (1 + 0) / (9 999 + 1).
    assert sign_flip_p(np.full(100, 0.5), 9_999, RNG(0)) == (1 / 10_000, "monte_carlo")
    # 20 clusters of +-1 that cancel: every pattern is as extreme, p = (1 + n) / (n + 1) = 1.
    assert sign_flip_p(np.array([1.0, -1.0] * 10), 500, RNG(0)) == (1.0, "monte_carlo")


def test_relabelling_by_hand():
    # Clusters (total, items): treatment (2, 2) (2, 2), baseline (0, 2) (0, 2). Of the C(4, 2) = 6
    # labellings, only the observed one and its mirror give |1 - 0| = 1: p = 2/6.
    p, kind = relabel_p(np.array([2.0, 2, 0, 0]), np.array([2.0, 2, 2, 2]), 2, 100, RNG(0))
    assert (p, kind) == (pytest.approx(1 / 3), "exact")


# ---- the delta ----


def test_one_item_with_delta_half_is_not_significant():
    est = clustered_delta(np.array([[0.0]]), np.array([[0.5]]), np.array([0]), n_boot=9_999)
    assert est.delta == 0.5 and est.ci == (0.5, 0.5) and est.degenerate
    assert est.p_bootstrap == pytest.approx(2 / 10_000)  # what the bootstrap alone claimed
    assert (est.p_permutation, est.permutation, est.p_value) == (1.0, "exact", 1.0)
    assert est.ci_covers == "items" and est.n_clusters == 1


def test_constant_difference_over_many_distinct_prompts_is_significant():
    # 100 items, each its own cluster, each +0.5: bootstrap p = 2/10 000, sign-flip p = 1/10 000.
    a, b = np.zeros((1, 100)), np.full((1, 100), 0.5)
    est = clustered_delta(a, b, np.arange(100), n_boot=9_999)
    assert (est.delta, est.ci) == (0.5, (0.5, 0.5))
    assert est.p_permutation == pytest.approx(1 / 10_000)
    assert est.p_value == pytest.approx(2 / 10_000)  # below Holm's 0.05 / 53 = 0.00094


def test_constant_difference_over_few_prompts_is_not():
    # The same 100 items, but built from 4 prompts (25 greetings each): 4 clusters, p = 2/16.
    a, b = np.zeros((1, 100)), np.full((1, 100), 0.5)
    est = clustered_delta(a, b, np.repeat(np.arange(4), 25), n_boot=2000)
    assert est.p_permutation == 2 / 16 and est.p_value == 2 / 16 and est.n_clusters == 4


def test_clusters_widen_the_interval():
    rng = RNG(1)
    prompt_effect = np.repeat(rng.normal(0, 0.3, 20), 10)  # 20 prompts x 10 greetings
    a = (rng.random((1, 200)) < 0.5).astype(float)
    b = np.clip(a + prompt_effect + rng.normal(0, 0.05, 200), 0, 1)
    by_item = clustered_delta(a, b, np.arange(200), n_boot=4000)
    by_prompt = clustered_delta(a, b, np.repeat(np.arange(20), 10), n_boot=4000)
    assert by_item.delta == by_prompt.delta
    width = lambda e: e.ci[1] - e.ci[0]  # noqa: E731
    assert width(by_prompt) > 2 * width(by_item)


def test_unscored_cells_drop_out_of_the_means():
    # Seed 2 did not score item 1: baseline mean (0 + 1 + 0) / 3, treatment (1 + 1 + 1 + 1) / 4.
    a = np.array([[0.0, 1.0], [0.0, np.nan]])
    b = np.array([[1.0, 1.0], [1.0, 1.0]])
    est = clustered_delta(a, b, np.array([0, 1]), n_boot=500)
    assert est.delta == pytest.approx(1 - 1 / 3)
    assert est.ci_covers == "seeds+items"
    # unequal seed counts are fine (seeds are unpaired); one seed on a side covers items only
    assert clustered_delta(a, b[:1], np.array([0, 1]), n_boot=500).ci_covers == "items"


def test_seed_order_does_not_matter_and_the_seed_does():
    rng = RNG(2)
    a, b = rng.random((3, 60)), rng.random((3, 60)) + 0.1
    c = np.arange(60) // 3
    one = clustered_delta(a, b, c, n_boot=3000, seed=5)
    assert clustered_delta(a[::-1], b[[1, 2, 0]], c, n_boot=3000, seed=5) == one
    assert clustered_delta(a, b, c, n_boot=3000, seed=6).ci != one.ci


def test_seed_variance_enters_the_interval():
    # Three seeds per arm of one model whose seed shifts every item by +-0.15: the item-only
    # interval of one seed pair misses that, the seeds+items interval includes it.
    rng = RNG(3)
    base = rng.random(100)
    shifts_a, shifts_b = np.array([-0.15, 0.0, 0.15]), np.array([0.12, -0.1, 0.02])
    a = base + shifts_a[:, None] + rng.normal(0, 0.02, (3, 100))
    b = base + shifts_b[:, None] + rng.normal(0, 0.02, (3, 100))
    c = np.arange(100)
    items_only = clustered_delta(a[2:], b[1:2], c, n_boot=4000)  # 0.15 vs -0.1: "regressed"
    assert items_only.ci[1] < 0 and items_only.ci_covers == "items"
    seeds = clustered_delta(a, b, c, n_boot=4000)
    assert seeds.ci_covers == "seeds+items"
    assert seeds.ci[0] < 0 < seeds.ci[1]
    assert seeds.ci[1] - seeds.ci[0] > 5 * (items_only.ci[1] - items_only.ci[0])


def test_unpaired_arms_use_the_relabelling_test():
    a = np.array([[0.0, 0.0, 1.0, 0.0]])
    b = np.array([[1.0, 1.0, 1.0]])
    est = clustered_delta(a, b, np.arange(4), np.arange(3), n_boot=2000)
    assert est.delta == pytest.approx(0.75)
    # 7 one-item clusters (four 1s, three 0s), 3 labelled treatment: C(7, 3) = 35 labellings.
    # With k ones in T the statistic is |k/3 - (4 - k)/4|: 0.75 at k = 3 (C(4,3) = 4 ways),
    # 1 at k = 0 (1 way), below 0.75 otherwise: p = 5 / 35.
    assert (est.permutation, est.p_permutation) == ("exact", pytest.approx(5 / 35))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="one cluster index per item"):
        clustered_delta(np.zeros((1, 3)), np.zeros((1, 3)), np.arange(2))
    with pytest.raises(ValueError, match="at least one seed"):
        clustered_delta(np.zeros((0, 3)), np.zeros((1, 3)), np.arange(3))
    with pytest.raises(ValueError, match="every item needs a score"):
        clustered_delta(np.array([[np.nan, 1.0]]), np.zeros((1, 2)), np.arange(2))


def test_53_evals_by_3_seeds_by_100_items_take_seconds():
    rng = RNG(0)
    evals = [(rng.random((3, 100)), rng.random((3, 100)), np.arange(100) // 2) for _ in range(53)]
    clustered_delta(*evals[0], n_boot=100)  # warm up
    t0 = time.perf_counter()
    for a, b, c in evals:
        clustered_delta(a, b, c, n_boot=2000)
    assert time.perf_counter() - t0 < 5.0  # ~0.5 s alone on one core
