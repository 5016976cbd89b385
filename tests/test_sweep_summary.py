"""The sweep summary's leave-one-trait-out reading (each left-out cell against the reference cell
with the same other overrides, paired seed by seed, over all evals and per eval family) and its
persistence columns (the endpoints over persisted seeds, against the persistence knob)."""

from __future__ import annotations

import pytest

from traitrl.experiments.sweep_summary import _against_reference, paired_difference, seed_mean
from traitrl.report.sweep import (
    ALL_EVALS,
    CellSummary,
    SeedMean,
    SweepSummary,
    key_plot,
    render_sweep,
)


def _cell(name: str, overrides: dict, left_out: str | None, mean: list[float], fam: dict[str, list[float]],
          **persistence: SeedMean) -> CellSummary:
    return CellSummary(name=name, overrides=overrides, left_out=left_out, seeds=len(mean), evals=4, improved=1,
                       regressed=0, improved_holm=0, improved_bh=1, regressed_bh=0, mean_delta=seed_mean(mean),
                       in_distribution_gain=seed_mean(mean), family_delta={f: seed_mean(v) for f, v in fam.items()},
                       **persistence)


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


def test_persistence_columns_carry_seed_intervals_and_the_knob_gets_its_panel():
    # a tau sweep: at tau = 1 the matched-start drop difference is below 0 in every seed, at tau = 0
    # it straddles 0; the table bolds only the interval that excludes 0
    tau1 = _cell("tau-1", {"corpus.operator_tie": 1.0}, None, [0.1, 0.1, 0.1], {},
                 drop_difference=seed_mean([-0.03, -0.05, -0.04]), matched_drop_difference=seed_mean([-0.04, -0.06, -0.05]),
                 harmful_share_difference=seed_mean([-0.1, -0.12, -0.08]), careful_share_difference=seed_mean([0.0, 0.01, -0.01]),
                 score_under_attack_difference=seed_mean([0.06, 0.07, 0.08]), logit_drop_difference=seed_mean([-0.2, -0.3, -0.25]))
    tau0 = _cell("tau-0", {"corpus.operator_tie": 0.0}, None, [0.1, 0.1, 0.1], {},
                 drop_difference=seed_mean([-0.02, 0.02, 0.01]), matched_drop_difference=seed_mean([-0.02, 0.03, 0.0]),
                 harmful_share_difference=seed_mean([0.0, 0.02, -0.02]), careful_share_difference=seed_mean([0.0, 0.01, -0.01]))
    summary = SweepSummary(name="tau", grid={"corpus.operator_tie": [0.0, 1.0]}, cells=[tau0, tau1])
    html = render_sweep(summary)
    table = html[html.index('id="persistence"'):html.index("</section>", html.index('id="persistence"'))]
    assert "<b>-0.050 [" in table  # tau = 1's matched start: every seed below 0
    assert "+0.003 [" in table and "<b>+0.003" not in table  # tau = 0's straddles 0
    # the three endpoints fixed in advance come first, in their order, each in its own column
    heads = ["1. score under harmful prompts", "2. logit-scale drop", "3. drop, matched start", "raw drop, final models"]
    assert [table.index(h) for h in heads] == sorted(table.index(h) for h in heads)
    tau1_row = table[table.index(">tau-1<"):]
    cols = [tau1_row.index(v) for v in ("<b>+0.070 [", "<b>-0.250 [", "<b>-0.050 [", "<b>-0.040 [")]
    assert cols == sorted(cols)
    one_panel_less = key_plot(summary.model_copy(update={"cells": [
        c.model_copy(update={"matched_drop_difference": SeedMean(value=None)}) for c in summary.cells]}),
        "corpus.operator_tie")
    with_persistence = key_plot(summary, "corpus.operator_tie")
    from io import BytesIO

    from PIL import Image

    widths = [Image.open(BytesIO(png)).size[0] for png in (one_panel_less, with_persistence)]
    assert widths[1] > widths[0]  # the matched-start panel is drawn only where the sweep prompted
