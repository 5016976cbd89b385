"""Results files, the comparison, the scoreboard and its files, and the sensitivity flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from traitrl.errors import UserError
from traitrl.evals.compare import compare, compare_command, estimate_delta, sensitivity
from traitrl.evals.results import (
    BenchmarkResult,
    EvalResult,
    EvalResults,
    ItemRecord,
    load_results,
    save_results,
)
from traitrl.evals.scoreboard import Scoreboard, read_scoreboard_csv, render_scoreboard

# ---- synthetic results ----


def make_eval(
    eid: str,
    scores: list[float | None],
    *,
    higher_is_better: bool = True,
    domains: tuple[str, ...] = ("finance",),
    informative: bool | None = None,
    family: str = "sycophancy",
) -> EvalResult:
    items = [
        ItemRecord(item_id=f"{eid}:{i:04d}", prompt=[], response="", score=s)
        for i, s in enumerate(scores)
    ]
    return EvalResult.from_items(
        id=eid,
        family=family,
        domains=list(domains),
        format="freeform",
        metric="aligned_rate",
        higher_is_better=higher_is_better,
        informative=informative,
        items=items,
    )


def suite(
    rates: np.ndarray, item_p: list[np.ndarray], seed: int, shift: float = 0.0
) -> EvalResults:
    """53 evals x 150 items: item k of eval e is aligned with probability item_p[e][k] + shift,
    so two seeds are two samplings of one model (items differ in difficulty, as real ones do)."""
    rng = np.random.default_rng(seed)
    evals = []
    for e, p in enumerate(item_p):
        scores = (rng.random(p.size) < np.clip(p + shift, 0, 1)).astype(float)
        domains = ("health",) if e % 4 == 0 else ("finance", "travel")
        evals.append(make_eval(f"eval_{e:02d}", list(scores), domains=domains))
    return EvalResults(model=f"model-seed{seed}", seed=seed, evals=evals)


@pytest.fixture(scope="module")
def population() -> tuple[np.ndarray, list[np.ndarray]]:
    g = np.random.default_rng(123)
    rates = g.uniform(0.3, 0.6, 53)
    return rates, [np.clip(g.normal(r, 0.15, 150), 0.02, 0.98) for r in rates]


# ---- the acceptance-style checks ----


def test_same_rates_different_seeds_give_few_significant_changes(population):
    # Under no effect each eval is "significant" with probability alpha = 0.05: 2.65 of 53 on
    # average, and a single honest pair exceeds 5 about 5 % of the time (Binomial(53, 0.05)).
    # So check six pairs: on average at most a few, never many, and none survive Holm.
    rates, item_p = population
    counts = []
    for k in range(6):
        sb = compare(suite(rates, item_p, 10 + k), suite(rates, item_p, 20 + k), seed=k, n_boot=4000)
        assert sb.n == 53
        assert sb.improved + sb.regressed <= 8, sb.headline()
        assert sb.holm.improved + sb.holm.regressed <= 1, sb.headline()
        counts.append(sb.improved + sb.regressed)
    assert np.mean(counts) <= 4, counts


def test_a_clear_shift_improves_nearly_everything(population):
    rates, item_p = population
    sb = compare(suite(rates, item_p, 1), suite(rates, item_p, 2, shift=0.2))
    assert sb.improved >= 45, sb.headline()
    assert sb.holm.improved >= 40
    assert sb.regressed == 0
    assert sb.health.n + sb.non_health.n == 53
    assert sb.health.n == 14  # evals 0, 4, ..., 52
    assert sb.health.improved + sb.non_health.improved == sb.improved


# ---- hand-computed deltas ----


def test_delta_by_hand_and_verdicts():
    base = EvalResults(model="base", evals=[make_eval("a", [0.0] * 20), make_eval("b", [1.0] * 20)])
    treat = EvalResults(
        model="trait", evals=[make_eval("a", [1.0] * 20), make_eval("b", [1.0] * 10 + [0.0] * 10)]
    )
    sb = compare(base, treat)
    a, b = sb.evals
    assert (a.delta, a.ci, a.verdict, a.verdict_holm) == (1.0, (1.0, 1.0), "improved", "improved")
    assert (a.baseline, a.treatment, a.pairing, a.n_baseline) == (0.0, 1.0, "paired", 20)
    assert b.delta == -0.5 and b.verdict == "regressed" and b.ci[1] < 0
    assert (sb.improved, sb.regressed, sb.no_change, sb.n) == (1, 1, 0, 2)
    assert sb.headline() == "improved 1 of 2 (Holm: 1, BH: 1), regressed 1 (Holm: 1, BH: 1)"


def test_lower_is_better_flips_the_sign():
    # A harm rate falls from 0.75 to 0.25: that is an improvement of +0.5.
    base = EvalResults(
        model="b", evals=[make_eval("harm", [1, 1, 1, 0] * 10, higher_is_better=False)]
    )
    treat = EvalResults(
        model="t", evals=[make_eval("harm", [0, 0, 1, 0] * 10, higher_is_better=False)]
    )
    row = compare(base, treat).evals[0]
    assert row.delta == pytest.approx(0.5)
    assert row.ci[0] > 0 and row.verdict == "improved"
    assert (row.baseline, row.treatment) == (0.75, 0.25)  # raw metric values keep their sign


def test_unscored_items_are_dropped_from_the_pairs():
    base = EvalResults(model="b", evals=[make_eval("e", [0, None, 1, 0])])
    treat = EvalResults(model="t", evals=[make_eval("e", [1, 1, None, 1])])
    row = compare(base, treat).evals[0]
    assert row.pairing == "paired" and row.n_baseline == row.n_treatment == 2
    assert row.delta == 1.0  # items 0 and 3 only: 0 -> 1 twice
    assert "2 items unscored" in row.note


def test_different_item_sets_fall_back_to_unpaired_over_the_shared_ids():
    base = make_eval("e", [0, 0, 1, 1])
    treat = make_eval("e", [1, 1, 1, 1, 1])  # one extra item
    est = estimate_delta(base, treat)
    assert est.pairing == "unpaired"
    assert (est.n_baseline, est.n_treatment) == (4, 4)
    assert est.delta == 0.5
    assert "1 only in treatment" in est.note and "unpaired" in est.note


def test_metric_mismatch_is_a_user_error():
    base = EvalResults(model="b", evals=[make_eval("e", [0, 1])])
    treat = EvalResults(model="t", evals=[make_eval("e", [0, 1], higher_is_better=False)])
    with pytest.raises(UserError, match="not the same metric"):
        compare(base, treat)


def test_missing_and_unscorable_evals_are_listed_not_counted():
    base = EvalResults(
        model="b",
        evals=[
            make_eval("both", [0, 1] * 5),
            make_eval("base_only", [1]),
            make_eval("dead", [1, 0]),
        ],
    )
    treat = EvalResults(
        model="t",
        evals=[
            make_eval("both", [0, 1] * 5),
            make_eval("dead", [None, None]),
            make_eval("new", [1]),
        ],
    )
    sb = compare(base, treat)
    assert [r.id for r in sb.evals] == ["both"] and sb.n == 1
    reasons = {nc.id: nc.reason for nc in sb.not_compared}
    assert reasons["base_only"] == "only in the baseline file"
    assert reasons["new"] == "only in the treatment file"
    assert reasons["dead"] == "no scored treatment items to compare"


def test_disjoint_scored_items_are_compared_unpaired():
    base = EvalResults(model="b", evals=[make_eval("e", [0, 0, None, None])])
    treat = EvalResults(model="t", evals=[make_eval("e", [None, None, 1, 1])])
    row = compare(base, treat).evals[0]
    assert (row.pairing, row.delta, row.n_baseline, row.n_treatment) == ("unpaired", 1.0, 2, 2)
    assert "no item is scored in both arms" in row.note


def test_persona_flat_evals_are_counted_and_annotated():
    # The persona check is an annotation: an eval the personas do not move is still counted
    # (at rho = 0 they move none, and a gate would delete the negative control).
    base = EvalResults(
        model="b",
        evals=[
            make_eval("signal", [0.0] * 30),
            make_eval("mc_blind", [0.0] * 30, informative=False),
            make_eval("health_x", [0.0] * 30, domains=("health",)),
        ],
    )
    treat = EvalResults(
        model="t",
        evals=[
            make_eval("signal", [1.0] * 30),
            make_eval("mc_blind", [1.0] * 30),
            make_eval("health_x", [0.0] * 15 + [1.0] * 15, domains=("health",)),
        ],
    )
    sb = compare(base, treat)
    assert [r.id for r in sb.evals] == ["signal", "mc_blind", "health_x"]
    assert sb.uninformative == []
    blind = sb.evals[1]
    assert blind.persona_sensitive is False and blind.counted and blind.informative is None
    assert blind.verdict == blind.verdict_holm == blind.verdict_bh == "improved"
    assert [r.persona_sensitive for r in sb.evals] == [None, False, None]
    assert (sb.improved, sb.n) == (3, 3)
    assert (sb.health.improved, sb.health.n) == (1, 1)
    assert (sb.non_health.improved, sb.non_health.n) == (2, 2)
    # health_x: 15 one-item clusters gain 1, 15 gain 0: exact sign flip p = 2 / 2**15.
    assert sb.evals[2].p_permutation == 2 / 2**15 and sb.evals[2].permutation == "exact"


# ---- sensitivity ----


def test_sensitivity_flags_evals_the_personas_do_not_move():
    careful = EvalResults(
        model="m",
        evals=[make_eval("moves", [1.0] * 25 + [0.0] * 5), make_eval("flat", [1, 0] * 15)],
    )
    harmful = EvalResults(
        model="m",
        evals=[make_eval("moves", [0.0] * 25 + [1.0] * 5), make_eval("flat", [1, 0] * 15)],
    )
    sens = sensitivity(careful, harmful)
    assert sens.flags() == {"moves": True, "flat": False}
    moves = sens.evals[0]
    assert moves.delta == pytest.approx(2 / 3)  # 25 items gain 1, 5 items lose 1, over 30
    assert moves.ci[0] > 0 and moves.pairing == "paired"
    stored = careful.with_informative(sens.flags())
    assert [e.informative for e in stored.evals] == [True, False]
    assert [e.informative for e in careful.evals] == [None, None]  # the original is untouched


def test_sensitivity_harmful_better_is_not_informative():
    careful = EvalResults(model="m", evals=[make_eval("inverted", [0.0] * 30)])
    harmful = EvalResults(model="m", evals=[make_eval("inverted", [1.0] * 30)])
    assert sensitivity(careful, harmful).flags() == {"inverted": False}


# ---- files ----


def test_json_and_csv_round_trip(population, tmp_path):
    rates, item_p = population
    base = suite(rates, item_p, 1)
    treat = suite(rates, item_p, 2, shift=0.1)
    treat = treat.with_informative({"eval_03": False})
    sb = compare(base, treat)
    assert sb.evals[3].persona_sensitive is False and sb.n == 53
    sb.write_json(tmp_path / "s.json")
    sb.write_csv(tmp_path / "s.csv")
    assert Scoreboard.model_validate_json((tmp_path / "s.json").read_text()) == sb
    assert read_scoreboard_csv(tmp_path / "s.csv") == sb.rows()


def test_results_round_trip_with_free_form_grades_and_benchmarks(tmp_path):
    item = ItemRecord(
        item_id="x:0",
        prompt=[{"role": "user", "content": "Are you sure?"}],
        response="Yes.",
        score=1.0,
        grade={"schema_version": 1, "value": 1.0, "items": [{"id": "c1", "met": True}], "x": None},
    )
    bench = BenchmarkResult.from_items(
        id="mwe_sycophancy",
        family="sycophancy",
        format="anthropic-mwe",
        metric="matching_rate",
        higher_is_better=False,
        sha256="ab" * 32,
        path="/data/syc.jsonl",
        items=[item],
    )
    res = EvalResults(
        model="m", config_hash="abc", seed=0, evals=[make_eval("e", [1, None])], benchmarks=[bench]
    )
    save_results(tmp_path / "r.json", res)
    back = load_results(tmp_path / "r.json")
    assert back == res
    assert back.evals[0].unscored == 1 and back.evals[0].value == 1.0
    sb = compare(back, back)
    assert {r.id: r.source for r in sb.evals} == {"e": "eval", "mwe_sycophancy": "benchmark"}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"model": "m", "evals": [{"id": "e"}]}', "evals.0.family"),
        ('{"model": "m", "surprise": 1}', "surprise"),
        ('{"schema_version": 2, "model": "m"}', "unsupported schema_version 2"),
        (
            '{"model": "m", "evals": [{"id": "e", "family": "f", "format": "x", "metric": "r",'
            ' "n": 1, "value": null, "items": [{"item_id": "e:0", "score": NaN}]}]}',
            "evals.0.items.0.score: Input should be a finite number",
        ),
    ],
)
def test_bad_results_file_is_a_user_error_naming_the_file(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError, match=match) as err:
        load_results(path)
    assert str(path) in str(err.value)


def test_summary_numbers_must_match_the_items(tmp_path):
    data = EvalResults(model="m", evals=[make_eval("e", [1.0, 0.0, None])]).model_dump(mode="json")
    for field, bad, match in [("value", 0.9, "mean of the item scores is 0.5"),
                              ("n", 4, "n is 4 but there are 3 items"),
                              ("unscored", 0, "unscored is 0 but 1 items")]:
        broken = json.loads(json.dumps(data))
        broken["evals"][0][field] = bad
        (tmp_path / "r.json").write_text(json.dumps(broken))
        with pytest.raises(UserError, match=match):
            load_results(tmp_path / "r.json")


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read results file"):
        load_results(tmp_path / "nope.json")


def test_compare_command_prints_and_writes(population, tmp_path):
    rates, item_p = population
    save_results(tmp_path / "base.json", suite(rates, item_p, 1))
    save_results(tmp_path / "trait.json", suite(rates, item_p, 2, shift=0.2))
    console = Console(record=True, width=200)
    sb = compare_command(tmp_path / "base.json", tmp_path / "trait.json", tmp_path / "out", console)
    text = console.export_text()
    assert sb.headline() in text
    assert f"improved {sb.improved} of 53 (Holm: {sb.holm.improved}, BH: {sb.bh.improved})" in text
    assert "eval_00" in text and "health:" in text
    assert "CIs cover item variance only (1 baseline and 1 treatment RL seed(s)" in text
    assert "one group, all evals" in text
    data = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert (data["n"], data["ci_covers"], data["schema_version"]) == (53, "items", 2)
    assert len(read_scoreboard_csv(tmp_path / "out" / "compare.csv")) == 53
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_render_marks_persona_flat_rows_but_counts_them():
    base = EvalResults(model="b", evals=[make_eval("blind", [0, 1] * 5, informative=False)])
    console = Console(record=True, width=200)
    render_scoreboard(compare(base, base), console)
    text = console.export_text()
    assert "blind (personas flat)" in text
    assert "improved 0 of 1 (Holm: 0, BH: 0), regressed 0 (Holm: 0, BH: 0)" in text
