"""The refusal analysis: rates per eval read from the grade records, and both arms restricted to
items neither refused (in any seed)."""

from __future__ import annotations

import pytest

from traitrl.evals.refusals import moves_refusal, refusal_rate, without_refusals
from traitrl.evals.results import EvalResult, EvalResults, ItemRecord

REFUSED = moves_refusal(frozenset({"refuse_bypass"}))


def _results(model: str, answers: dict[str, tuple[float | None, list[str] | None]]) -> EvalResults:
    items = [ItemRecord(item_id=i, score=s, grade={"metadata": {"moves": m}} if m is not None else {})
             for i, (s, m) in answers.items()]
    e = EvalResult.from_items(items=items, id="harm.x", family="harmful_advice", format="free", metric="aligned_score")
    return EvalResults(model=model, config_hash="h", seed=0, evals=[e])


def test_rates_count_parsed_items_only():
    r = _results("t", {"a": (1.0, ["refuse_bypass"]), "b": (0.0, ["help_bypass"]), "c": (None, None),
                       "d": (1.0, ["refuse_bypass", "warn_risk"])})
    rates = refusal_rate([r], REFUSED)
    assert (rates["harm.x"].refused, rates["harm.x"].parsed) == (2, 3)
    assert rates["harm.x"].rate == pytest.approx(2 / 3) and rates["all"].rate == pytest.approx(2 / 3)


def test_items_refused_by_either_arm_in_any_seed_leave_both_arms():
    base = [_results("b", {"a": (0.0, ["help_bypass"]), "b": (1.0, ["refuse_bypass"]), "c": (0.0, ["help_bypass"]),
                           "d": (0.0, ["help_bypass"])})]
    trait = [_results("t", {"a": (1.0, ["refuse_bypass"]), "b": (1.0, ["refuse_bypass"]), "c": (1.0, ["warn_risk"]),
                            "d": (0.0, ["help_bypass"])}),
             _results("t", {"a": (1.0, ["warn_risk"]), "b": (1.0, ["warn_risk"]), "c": (1.0, ["warn_risk"]),
                            "d": (1.0, ["refuse_bypass"])})]
    b, t = without_refusals(base, trait, REFUSED)
    assert [it.item_id for it in b[0].evals[0].items] == ["c"]
    assert [[it.item_id for it in r.evals[0].items] for r in t] == [["c"], ["c"]]
    assert b[0].evals[0].value == 0.0 and t[0].evals[0].value == 1.0 and t[0].evals[0].n == 1
