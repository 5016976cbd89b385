"""The sweep summary's leave-one-trait-out reading: each left-out cell against the reference cell
with the same other overrides, paired seed by seed, over all evals and per eval family."""

from __future__ import annotations

import pytest

from traitrl.experiments.sweep_summary import _against_reference, paired_difference, seed_mean
from traitrl.report.sweep import ALL_EVALS, CellSummary, SweepSummary, render_sweep


def _cell(name: str, overrides: dict, left_out: str | None, mean: list[float], fam: dict[str, list[float]]) -> CellSummary:
    return CellSummary(name=name, overrides=overrides, left_out=left_out, seeds=len(mean), evals=4, improved=1,
                       regressed=0, improved_holm=0, improved_bh=1, regressed_bh=0, mean_delta=seed_mean(mean),
                       in_distribution_gain=seed_mean(mean), harmful_drop_difference=None,
                       family_delta={f: seed_mean(v) for f, v in fam.items()})


def test_paired_difference_pairs_seeds_not_means():
    # seed effects shared by both cells cancel in the paired difference: a constant 0.02 gap
    # between cells whose per-seed values spread widely has a narrow interval excluding 0
    a, b = seed_mean([0.10, 0.30, 0.50]), seed_mean([0.08, 0.28, 0.48])
    d = paired_difference(a, b)
    assert d.value == pytest.approx(0.02)
    assert d.ci is not None and d.ci[0] == pytest.approx(0.02) and d.ci[1] == pytest.approx(0.02)
    assert paired_difference(seed_mean([0.1, 0.2]), seed_mean([0.1, 0.2, 0.3])).value is None


def test_each_left_out_cell_is_read_against_the_reference_with_its_other_overrides():
    traits = ["truthfulness", "corrigibility"]
    rows = [
        _cell("rho-1", {"corpus.rho": 1}, None, [0.10, 0.20, 0.30], {"welfare": [0.2, 0.3, 0.4], "fairness": [0.0, 0.1, 0.2]}),
        _cell("rho-0", {"corpus.rho": 0}, None, [0.00, 0.01, 0.02], {"welfare": [0.0, 0.0, 0.0], "fairness": [0.0, 0.0, 0.0]}),
        _cell("rho-1_no-x", {"corpus.rho": 1, "train.include_traits": traits}, "x", [0.05, 0.16, 0.24],
              {"welfare": [0.0, 0.1, 0.2], "fairness": [0.0, 0.1, 0.2]}),
    ]
    out = [_against_reference(c, rows) for c in rows]
    assert out[0].reference_difference == {} and out[1].reference_difference == {}
    diff = out[2].reference_difference
    # against rho-1 (its other override), never rho-0
    assert diff[ALL_EVALS].value == pytest.approx(-0.05)
    assert diff["welfare"].value == pytest.approx(-0.2) and diff["welfare"].ci[1] < 0
    assert diff["fairness"].value == pytest.approx(0.0)
    html = render_sweep(SweepSummary(name="s", grid={"corpus.rho": [0, 1]}, cells=out))
    assert "Which traits carry the effect" in html
    loo = html[html.index('id="loo"'):]
    assert "<b>-0.200</b>" in loo and "+0.000" in loo  # the significant loss in bold, the null one not
