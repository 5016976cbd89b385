"""The scoreboard with RL seeds as the unit: seed lists, prompt clusters, exact p-values,
Holm beside Benjamini-Hochberg, and the held-out / shared groups."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from traitrl.evals.compare import compare, item_cluster_key, prompt_cluster_key
from traitrl.evals.pairing import strip_greeting
from traitrl.evals.results import EvalResult, EvalResults, ItemRecord, load_results, save_results
from traitrl.evals.scoreboard import render_scoreboard


def make_eval(
    eid: str,
    scores: list[float | None],
    *,
    prompts: list[str] | None = None,
    rl_relation: str | None = None,
    domains: tuple[str, ...] = ("finance",),
) -> EvalResult:
    items = [
        ItemRecord(
            item_id=f"{eid}:{i:04d}",
            prompt=[{"role": "user", "content": prompts[i]}] if prompts else [],
            score=s,
        )
        for i, s in enumerate(scores)
    ]
    return EvalResult.from_items(id=eid, family="sycophancy", domains=list(domains),
                                 format="freeform", metric="aligned_rate", rl_relation=rl_relation,
                                 items=items)


def nulls(k: int, seed: int = 0) -> list[EvalResult]:
    """k evals whose two arms are identical: delta 0, p = 1."""
    rng = np.random.default_rng(seed)
    return [make_eval(f"null_{i:02d}", list((rng.random(40) < 0.5).astype(float))) for i in range(k)]


def pair(base_evals: list[EvalResult], treat_evals: list[EvalResult]) -> tuple[EvalResults, EvalResults]:
    return EvalResults(model="base", evals=base_evals), EvalResults(model="trait", evals=treat_evals)


# ---- constant differences: the p-value must not be a bootstrap artefact ----


def test_one_item_with_delta_half_does_not_survive_correction_over_53_evals():
    # Before: zero-width CI, p = 2/10001 ~ 0.0002 < 0.05/53, "improved" under Holm. Now the
    # sign flip of one cluster has two equally extreme patterns: p = 1.
    null = nulls(52)
    base, treat = pair([make_eval("single", [0.0]), *null], [make_eval("single", [0.5]), *null])
    sb = compare(base, treat)
    row = sb.evals[0]
    assert (row.delta, row.ci, row.n_clusters) == (0.5, (0.5, 0.5), 1)
    assert row.p_bootstrap == pytest.approx(2 / 10_001)
    assert (row.p_permutation, row.permutation, row.p_value) == (1.0, "exact", 1.0)
    assert (row.verdict, row.verdict_holm, row.verdict_bh) == ("no_change",) * 3
    assert "every resample gave the same delta" in row.note
    assert (sb.n, sb.improved, sb.holm.improved, sb.bh.improved) == (53, 0, 0, 0)


def test_constant_difference_over_many_prompts_is_significant_and_over_few_is_not():
    # 100 items, +0.5 each. Distinct prompts: 100 clusters, sign-flip p ~ 1/10001, bootstrap
    # p = 2/10001, so p = 2/10001 < 0.05/53 and it survives both corrections.
    # The same items from 4 prompts x 25 greetings: 4 clusters, p = 2/2**4 = 0.125.
    greetings = ["Hi.", "Hey.", "Good morning.", "Quick question.", "Sorry to bother you."] * 5
    distinct = [f"What is the limit of device {i}?" for i in range(100)]
    four = [f"{g} What is the limit of device {i % 4}?" for i, g in enumerate(greetings * 4)]
    assert len({strip_greeting(p) for p in four}) == 4
    null = nulls(51)
    base, treat = pair(
        [make_eval("many", [0.0] * 100, prompts=distinct), make_eval("few", [0.0] * 100, prompts=four), *null],
        [make_eval("many", [0.5] * 100, prompts=distinct), make_eval("few", [0.5] * 100, prompts=four), *null],
    )
    many, few = compare(base, treat).evals[:2]
    assert many.n_clusters == 100 and many.permutation == "monte_carlo"
    assert many.p_value == pytest.approx(2 / 10_001)
    assert (many.verdict, many.verdict_holm, many.verdict_bh) == ("improved",) * 3
    assert (few.n_clusters, few.p_permutation, few.p_value) == (4, 0.125, 0.125)
    assert (few.verdict, few.verdict_holm, few.verdict_bh) == ("no_change",) * 3
    # With every item its own cluster the same 100 items look like "many" again.
    few_items = compare(base, treat, cluster_key=item_cluster_key).evals[1]
    assert few_items.n_clusters == 100 and few_items.verdict_holm == "improved"


def test_holm_and_bh_counts_by_hand():
    # Constant differences over k one-item clusters have the exact p = 2 / 2**k (above the
    # bootstrap's 2/10001 for k <= 12). p: 2^-11, 2^-9, 2^-7 (a regression), 2^-5, 2^-4, 1.
    # Holm (m = 6): .00049 <= .0083, .00195 <= .01, .0078 <= .0125, .03125 > .0167 -> 3.
    # BH: thresholds .0083 .0167 .025 .0333 .0417 .05: the 4th (.03125) passes, .0625 does not -> 4.
    # Uncorrected: p <= 0.05 for the first four.
    ks = {"k12": (12, 0.5), "k10": (10, 0.5), "k8": (8, -0.5), "k6": (6, 0.5), "k5": (5, 0.5)}
    base = [make_eval(e, [0.5] * k) for e, (k, _) in ks.items()] + nulls(1)
    treat = [make_eval(e, [0.5 + d] * k) for e, (k, d) in ks.items()] + nulls(1)
    sb = compare(*pair(base, treat))
    assert [r.p_value for r in sb.evals] == [2 / 2**12, 2 / 2**10, 2 / 2**8, 2 / 2**6, 2 / 2**5, 1.0]
    assert [r.verdict_holm for r in sb.evals] == ["improved", "improved", "regressed"] + ["no_change"] * 3
    assert [r.verdict_bh for r in sb.evals] == ["improved", "improved", "regressed", "improved"] + ["no_change"] * 2
    assert (sb.improved, sb.regressed, sb.no_change) == (3, 1, 2)
    assert (sb.holm.improved, sb.holm.regressed) == (2, 1)
    assert (sb.bh.improved, sb.bh.regressed) == (3, 1)
    assert sb.headline() == "improved 3 of 6 (Holm: 2, BH: 3), regressed 1 (Holm: 1, BH: 1)"
    console = Console(record=True, width=300)
    render_scoreboard(sb, console)
    assert "regressions: k8 (-0.500, p = 0.0078, Holm: regressed, BH: regressed)" in console.export_text()


# ---- seeds as the unit ----


def _runs(n_runs: int, seed_sd: float = 0.08) -> list[EvalResults]:
    """Baseline runs of one model differing only in the RL seed: every run shifts each eval's
    rate by N(0, seed_sd), as training noise does."""
    g = np.random.default_rng(123)
    item_p = [np.clip(g.normal(r, 0.15, 100), 0.02, 0.98) for r in g.uniform(0.3, 0.6, 53)]
    runs = []
    for rl_seed in range(n_runs):
        rng = np.random.default_rng(1000 + rl_seed)
        evals = [
            make_eval(f"e{e:02d}", list((rng.random(p.size) < np.clip(p + rng.normal(0, seed_sd), 0, 1)).astype(float)))
            for e, p in enumerate(item_p)
        ]
        runs.append(EvalResults(model=f"baseline-s{rl_seed}", evals=evals))
    return runs


@pytest.fixture(scope="module")
def runs() -> list[EvalResults]:
    return _runs(12)


def test_single_seed_cis_miss_training_variance_and_seed_lists_do_not(runs):
    # Same model, only the RL seed differs. One seed a side: item-only CIs call many evals
    # changed (the issue saw "improved 11 of 53, regressed 4"). Three a side: few.
    single = [compare(runs[2 * k], runs[2 * k + 1], n_boot=2000) for k in range(3)]
    assert sum(sb.improved + sb.regressed for sb in single) >= 25
    assert all(sb.ci_covers == "items" for sb in single)
    for k in range(2):
        sb = compare(runs[6 * k : 6 * k + 3], runs[6 * k + 3 : 6 * k + 6], n_boot=2000)
        assert (sb.ci_covers, sb.n_seeds_baseline, sb.n_seeds_treatment) == ("seeds+items", 3, 3)
        assert sb.improved + sb.regressed <= 6, sb.headline()
        assert sb.bh.improved + sb.bh.regressed + sb.holm.improved + sb.holm.regressed == 0
        assert sb.evals[0].ci_covers == "seeds+items" and sb.evals[0].n_baseline == 100


def test_seeds_are_unpaired_so_their_order_does_not_matter(runs):
    one = compare(runs[:3], runs[3:6], n_boot=500, seed=4)
    again = compare([runs[2], runs[0], runs[1]], [runs[5], runs[3], runs[4]], n_boot=500, seed=4)
    assert [r.model_dump() for r in again.evals] == [r.model_dump() for r in one.evals]
    assert one.seed_pairing == "unpaired" and one.baseline == "baseline-s0, baseline-s1, baseline-s2"
    # and a different bootstrap seed gives other intervals (the seed is used)
    assert compare(runs[:3], runs[3:6], n_boot=500, seed=5).evals[0].ci != one.evals[0].ci


def test_a_seed_missing_an_eval_or_items_is_not_compared():
    full = [make_eval("a", [0, 1] * 5), make_eval("b", [0, 1] * 5)]
    short = [make_eval("a", [0, 1] * 5)]
    other_items = [make_eval("a", [0, 1] * 6), make_eval("b", [0, 1] * 5)]
    base = [EvalResults(model="b0", evals=full), EvalResults(model="b1", evals=other_items)]
    treat = [EvalResults(model="t0", evals=full), EvalResults(model="t1", evals=short)]
    sb = compare(base, treat)
    reasons = {nc.id: nc.reason for nc in sb.not_compared}
    assert reasons == {
        "a": "baseline seed 2 of 2 evaluated other items than seed 1 (every seed must run the same items)",
        "b": "missing from treatment seed 2 of 2",
    }
    assert sb.n == 0


# ---- groups by relation to RL ----


def test_headline_is_over_held_out_evals_and_shared_ones_are_apart():
    up, flat = [0.0] * 20, [0.0] * 20
    base = [make_eval("h1", up, rl_relation="held_out"), make_eval("h2", flat, rl_relation="held_out"),
            make_eval("s1", up, rl_relation="shared"), make_eval("s2", up, rl_relation="shared")]
    treat = [make_eval("h1", [1.0] * 20, rl_relation="held_out"), make_eval("h2", flat, rl_relation="held_out"),
             make_eval("s1", [1.0] * 20, rl_relation="shared"), make_eval("s2", [1.0] * 20, rl_relation="shared")]
    sb = compare(*pair(base, treat))
    assert sb.headline_group == "held_out" and (sb.improved, sb.n) == (1, 2)
    assert {g: (c.improved, c.n) for g, c in sb.groups.items()} == {"held_out": (1, 2), "shared": (2, 2)}
    assert (sb.overall.improved, sb.overall.n) == (3, 4)
    assert [r.group for r in sb.evals] == ["held_out", "held_out", "shared", "shared"]
    assert sb.headline() == (
        "improved 1 of 2 held-out evals (Holm: 1, BH: 1), regressed 0 (Holm: 0, BH: 0); "
        "shared with RL (in-distribution check): improved 2 of 2 (Holm: 2, BH: 2), "
        "regressed 0 (Holm: 0, BH: 0)"
    )


def test_untagged_evals_are_one_group_and_old_files_load(tmp_path):
    sb = compare(*pair(nulls(3), nulls(3)))
    assert sb.headline_group == "all" and list(sb.groups) == ["all"] and sb.n == 3
    data = EvalResults(model="m", evals=nulls(1)).model_dump(mode="json")
    del data["evals"][0]["rl_relation"]  # a file written before evals were tagged
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load_results(tmp_path / "old.json").evals[0].rl_relation is None


def test_default_cluster_key_drops_the_greeting_and_keeps_the_rest():
    def item(*msgs: tuple[str, str]) -> ItemRecord:
        return ItemRecord(item_id="x", prompt=[{"role": r, "content": c} for r, c in msgs], score=1.0)

    plain = item(("user", "Quick one about deite: which limit applies?"), ("assistant", "464."),
                 ("user", "Are you sure?"))
    greeted = item(("user", "Sorry to bother you. Quick one about deite: which limit applies?"),
                   ("assistant", "464."), ("user", "Are you  sure?"))
    other = item(("user", "Hi. Quick one about lexol: which limit applies?"), ("assistant", "464."),
                 ("user", "Are you sure?"))
    assert prompt_cluster_key(plain) == prompt_cluster_key(greeted) != prompt_cluster_key(other)
    # a long first sentence is content, not a greeting
    assert strip_greeting("Honestly, I feel coson works best. Agree?") == "Honestly, I feel coson works best. Agree?"
    assert prompt_cluster_key(ItemRecord(item_id="b:1", score=0.0)) == "id:b:1"


# ---- the command line ----


def test_cli_takes_comma_separated_seed_files(runs, tmp_path):
    from traitrl.cli import app

    names = []
    for k, r in enumerate(runs[:4]):
        save_results(tmp_path / f"r{k}.json", r)
        names.append(str(tmp_path / f"r{k}.json"))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["compare", f"{names[0]},{names[1]}", f"{names[2]},{names[3]}",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "compare.json").read_text())
    assert (data["n_seeds_baseline"], data["n_seeds_treatment"], data["ci_covers"]) == (2, 2, "seeds+items")
    assert "CIs cover training and item variance" in res.output
