"""The bootstrap, Wilson and Holm arithmetic, checked against numbers worked out by hand."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from traitrl.evals.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    derive_seed,
    holm,
    paired_bootstrap_delta,
    resample_means,
    unpaired_bootstrap_delta,
    wilson_ci,
)

# ---- bootstrap_ci ----


def test_empty_scores_give_nan_not_zero():
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    assert all(math.isnan(x) for x in bootstrap_ci([], method="wilson"))


def test_constant_scores_give_zero_width_interval():
    assert bootstrap_ci([0.3] * 7) == (pytest.approx(0.3), pytest.approx(0.3), pytest.approx(0.3))
    mean, lo, hi = bootstrap_ci([1.0] * 50)
    assert mean == lo == hi == 1.0


def test_mean_is_exact_and_interval_brackets_it():
    mean, lo, hi = bootstrap_ci([0, 1, 1, 0, 1, 1, 1, 0, 1, 1])
    assert mean == pytest.approx(0.7)
    assert lo < 0.7 < hi
    assert 0.0 <= lo and hi <= 1.0


def test_bootstrap_width_matches_the_normal_approximation():
    # 200 ones and 200 zeros: se = 0.5 / sqrt(400) = 0.025, so the 95% CI is 0.5 +- 0.049.
    x = np.array([1.0] * 200 + [0.0] * 200)
    mean, lo, hi = bootstrap_ci(x, n_boot=20_000, seed=1)
    assert mean == 0.5
    assert lo == pytest.approx(0.5 - 1.96 * 0.025, abs=0.004)
    assert hi == pytest.approx(0.5 + 1.96 * 0.025, abs=0.004)


def test_bootstrap_is_seeded():
    x = np.random.default_rng(0).random(50)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci(x, seed=3) != bootstrap_ci(x, seed=4)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([0.0, float("nan")])
    with pytest.raises(ValueError, match="binary"):
        bootstrap_ci([0.0, 0.5], method="wilson")
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([0.0, 1.0], alpha=1.5)


def test_both_resampling_paths_have_the_theoretical_spread():
    # Few distinct values take the multinomial path, many take the index path: same law.
    rng = np.random.default_rng(0)
    binary = (rng.random(300) < 0.4).astype(float)
    continuous = rng.random(300)
    for x in (binary, continuous):
        boot = resample_means(x, 20_000, np.random.default_rng(1))
        assert boot.mean() == pytest.approx(x.mean(), abs=0.002)
        assert boot.std() == pytest.approx(x.std() / math.sqrt(x.size), rel=0.03)


def test_500_items_by_2000_resamples_take_milliseconds():
    rng = np.random.default_rng(0)
    for x in ((rng.random(500) < 0.5).astype(float), rng.random(500)):
        bootstrap_ci(x)  # warm up
        t0 = time.perf_counter()
        bootstrap_ci(x, n_boot=2000)
        paired_bootstrap_delta(x, x[::-1], n_boot=2000)
        assert time.perf_counter() - t0 < 0.25


# ---- Wilson ----


def test_wilson_by_hand():
    # 8 of 10, z = 1.95996: centre = (0.8 + z^2/20) / (1 + z^2/10) = 0.71674,
    # half = z * sqrt(0.016 + z^2/400) / (1 + z^2/10) = 0.22658 -> [0.49016, 0.94332].
    p, lo, hi = wilson_ci(8, 10)
    assert p == 0.8
    assert lo == pytest.approx(0.49016, abs=1e-4)
    assert hi == pytest.approx(0.94332, abs=1e-4)
    # 0 of 10: lower bound exactly 0, upper z^2/(n + z^2) = 0.27753.
    p, lo, hi = wilson_ci(0, 10)
    assert (p, lo) == (0.0, 0.0)
    assert hi == pytest.approx(0.27753, abs=1e-4)


def test_wilson_through_bootstrap_ci():
    assert bootstrap_ci([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], method="wilson") == wilson_ci(8, 10)


# ---- paired and unpaired deltas ----


def test_paired_delta_on_a_tiny_array():
    # d = b - a = [1, 0, 0, 0]: delta 0.25; a resample of d is never negative, so lo = 0, and it
    # is all zeros with probability (3/4)^4 = 0.3164: bootstrap p = 2 * 0.3164 = 0.633. One
    # non-zero difference has two equally extreme sign flips, so the reported p is 1.
    delta, lo, hi, p = paired_bootstrap_delta([0, 0, 1, 1], [1, 0, 1, 1], n_boot=20_000)
    assert delta == 0.25
    assert lo == 0.0
    assert hi in (0.5, 0.75)
    assert p == 1.0
    # d = [1, 1, 1, 1, 1, 0]: bootstrap p = 2 * (1/6)^6 ~ 0 + 2/20001; exact sign flip 2/2**5.
    assert paired_bootstrap_delta([0] * 6, [1] * 5 + [0], n_boot=20_000)[3] == 2 / 32


def test_paired_constant_difference_is_zero_width_but_not_significant_from_few_items():
    # Three items each +1: zero-width CI; the bootstrap alone would claim 2 / 1000, the exact
    # sign flip gives 2 / 2**3 = 0.25 (only all-plus and all-minus reach |3|).
    delta, lo, hi, p = paired_bootstrap_delta([0, 1, 0], [1, 2, 1], n_boot=999)
    assert (delta, lo, hi) == (1.0, 1.0, 1.0)
    assert p == 0.25
    # 200 items each +1: the sign flip is Monte Carlo, (1 + 0) / 1000; the bootstrap's 2 / 1000.
    assert paired_bootstrap_delta([0] * 200, [1] * 200, n_boot=999)[3] == pytest.approx(2 / 1000)


def test_identical_arrays_have_no_difference():
    x = np.random.default_rng(0).random(40)
    assert paired_bootstrap_delta(x, x) == (0.0, 0.0, 0.0, 1.0)


def test_clear_shift_is_significant_and_p_is_small():
    rng = np.random.default_rng(0)
    a = (rng.random(200) < 0.3).astype(float)
    b = (rng.random(200) < 0.7).astype(float)
    delta, lo, hi, p = paired_bootstrap_delta(a, b)
    assert lo > 0 and delta == pytest.approx(b.mean() - a.mean())
    assert p == pytest.approx(2 / 10_001)


def test_pairing_narrows_the_interval_when_items_correlate():
    rng = np.random.default_rng(0)
    difficulty = rng.random(300)
    a = difficulty + rng.normal(0, 0.05, 300)
    b = difficulty + 0.02 + rng.normal(0, 0.05, 300)
    _, plo, phi, _ = paired_bootstrap_delta(a, b)
    _, ulo, uhi, _ = unpaired_bootstrap_delta(a, b)
    assert phi - plo < 0.5 * (uhi - ulo)


def test_paired_needs_equal_lengths_and_empty_gives_nan():
    with pytest.raises(ValueError, match="length"):
        paired_bootstrap_delta([0, 1], [0, 1, 1])
    assert all(math.isnan(x) for x in paired_bootstrap_delta([], []))
    assert all(math.isnan(x) for x in unpaired_bootstrap_delta([1.0], []))


def test_unpaired_delta_by_hand():
    delta, lo, hi, p = unpaired_bootstrap_delta([0, 0, 0, 0], [1, 1, 1, 1, 1])
    assert (delta, lo, hi) == (1.0, 1.0, 1.0)
    delta, lo, hi, p = unpaired_bootstrap_delta([0, 1, 0, 1], [1, 1, 0, 1, 1, 0])
    assert delta == pytest.approx(4 / 6 - 0.5)
    assert lo < 0 < hi and p > 0.3


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(0, "syc_a") == derive_seed(0, "syc_a")
    assert len({derive_seed(0, "syc_a"), derive_seed(0, "syc_b"), derive_seed(1, "syc_a")}) == 3


# ---- Holm ----


def test_holm_on_a_known_list():
    # sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2 -> stop; 0.04 is not rejected
    # even though it is below 0.05/1.
    assert holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]


def test_holm_rejects_more_than_bonferroni():
    p = [0.011, 0.02, 0.03]  # Bonferroni threshold 0.0167 rejects only the first
    assert holm(p, 0.05) == [True, True, True]  # 0.011 <= .0167, 0.02 <= .025, 0.03 <= .05


def test_holm_edge_cases():
    assert holm([], 0.05) == []
    assert holm([0.0, 0.0], 0.05) == [True, True]
    assert holm([0.05], 0.05) == [True]
    assert holm([0.5, 0.001], 0.05) == [False, True]
    with pytest.raises(ValueError):
        holm([0.1, float("nan")])
    with pytest.raises(ValueError):
        holm([1.2])


# ---- Benjamini-Hochberg beside Holm ----


def test_bh_and_holm_on_a_known_list():
    # m = 8, BH thresholds k * 0.05 / 8 = .00625, .0125, .01875, .025, ...: 0.001 and 0.008 pass,
    # 0.039 > .01875 and nothing later passes its own -> BH rejects 2. Holm: 0.001 <= 0.05/8,
    # 0.008 > 0.05/7 = .00714 -> stop: Holm rejects 1.
    p = [0.041, 0.001, 0.074, 0.039, 0.205, 0.008, 0.06, 0.042]
    assert benjamini_hochberg(p) == [False, True, False, False, False, True, False, False]
    assert holm(p) == [False, True, False, False, False, False, False, False]


def test_bh_steps_up_past_p_values_above_their_own_threshold():
    # m = 4, thresholds .0125, .025, .0375, .05: 0.02 and 0.03 fail theirs but 0.035 passes
    # at rank 3, so all three smallest are rejected. Holm rejects none (0.02 > 0.0125).
    p = [0.9, 0.035, 0.02, 0.03]
    assert benjamini_hochberg(p) == [False, True, True, True]
    assert holm(p) == [False, False, False, False]
    # m = 5, p_k = k / 100 sits exactly on every BH threshold: all five; Holm only 0.01.
    assert benjamini_hochberg([0.01, 0.02, 0.03, 0.04, 0.05]) == [True] * 5
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == [True, False, False, False, False]


def test_bh_edge_cases():
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.05]) == [True]
    assert benjamini_hochberg([0.06, 0.5]) == [False, False]
    assert benjamini_hochberg([0.2, 0.2, 0.2], alpha=0.2) == [True, True, True]
    with pytest.raises(ValueError):
        benjamini_hochberg([0.1, float("nan")])
