"""The verifier registry: numeric, multiple-choice and regex verifiers and user rewards, on
hand-made answers, including the answers they must leave unscored (None with a reason, never 0)."""

from __future__ import annotations

import json

import pytest

from traitrl.errors import UserError
from traitrl.graders.registry import GRADERS, check_grader_name, local_graders
from traitrl.graders.verifiers import (
    ChoiceVerifier,
    NumericVerifier,
    RegexVerifier,
    final_answer,
    load_user_reward,
    reference_answer,
    to_number,
)
from traitrl.train.rewards import make_router


def _world_grader(prompts, completions, **kw):
    return [0.5] * len(completions)


@pytest.mark.parametrize(("reply", "value"), [
    ("16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars... The answer is 72.", 1.0),  # "the answer is" beats the last number
    ("She makes 9 * 8 = 72\n#### 72", 1.0),
    ("so the total is \\boxed{72}", 1.0),
    ("\\boxed{\\frac{144}{2}}", 1.0),
    ("First 70, then two more: 72", 1.0),  # last number fallback
    ("The answer is $72.00.", 1.0),
    ("Answer: 72.0", 1.0),
    ("The answer is 73.", 0.0),
    ("#### 7,200", 0.0),
    ("The answer is 27", 0.0),
])
def test_numeric_verifier_reads_the_final_answer(reply, value):
    grade = NumericVerifier().grade(reply, {"answer": "72"})
    assert grade.value == value, grade.explanation


def test_numeric_verifier_normalises_commas_dollars_and_trailing_zeros():
    v = NumericVerifier()
    assert v.grade("The answer is $1,234.", {"answer": "1234"}).value == 1.0
    assert v.grade("#### 1234.50", {"answer": "1,234.5"}).value == 1.0
    assert v.grade("\\boxed{-3/4}", {"answer": "-0.75"}).value == 1.0
    assert v.grade("\\boxed{50\\%}", {"answer": "50"}).value == 1.0
    # a LaTeX reference compares as normalised text
    assert v.grade("\\boxed{\\dfrac{\\sqrt{3}}{2}}", {"answer": "\\frac{\\sqrt{3}}{2}"}).value == 1.0
    assert v.grade("\\boxed{\\sqrt{2}}", {"answer": "\\frac{\\sqrt{3}}{2}"}).value == 0.0
    assert [to_number(s) for s in ("1,000", "$72", "72.0", "7.", "abc", "1,00")] == [1000, 72, 72, 7, None, None]


def test_numeric_verifier_leaves_answers_without_a_value_unscored():
    v = NumericVerifier()
    empty, words, no_number = (v.grade(r, {"answer": "72"}) for r in ("   ", "I am not sure.", "The answer is seventy-two."))
    assert (empty.value, empty.reason) == (None, "empty reply")
    assert words.value is None and words.reason.startswith("no final answer found")
    assert no_number.value is None and "no number in the final answer 'seventy-two.'" in no_number.reason
    assert final_answer("x \\boxed{1} and #### 2") == ("1", "boxed")


def test_reference_answers_of_gsm8k_and_math_solutions():
    assert reference_answer("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\n#### 18") == "18"
    assert reference_answer("So $x = \\boxed{\\frac{1}{\\sqrt{2}}}$.") == "\\frac{1}{\\sqrt{2}}"
    assert reference_answer("no final line") is None


@pytest.mark.parametrize(("reply", "value"), [
    ("(B)", 1.0), ("Answer: B", 1.0), ("B.", 1.0), ("B) because it is cheaper", 1.0), ("\\boxed{B}", 1.0),
    ("The answer is (C).", 0.0), ("I pick (A)", 0.0), ("Answer: D", 0.0), ("the answer is a bit unclear", None),
])
def test_choice_verifier_reads_the_letter(reply, value):
    assert ChoiceVerifier().grade(reply, {"answer": "(B)"}).value == value


def test_choice_verifier_leaves_replies_without_a_letter_unscored():
    grade = ChoiceVerifier().grade("Both options seem fine to me.", {"answer": "B"})
    assert (grade.value, grade.reason) == (None, "no option letter found")


def test_regex_verifier_with_and_without_an_answer():
    v = RegexVerifier()
    assert v.grade("Sure: {\"ok\": true}", {"pattern": r"\{.*\}"}).value == 1.0
    assert v.grade("no braces", {"pattern": r"\{.*\}"}).value == 0.0  # no answer to extract: a plain 0
    keyed = {"pattern": r"FINAL: (\w+)", "answer": "Paris"}
    assert v.grade("FINAL: Lyon ... FINAL: Paris", keyed).value == 1.0  # the last match counts
    assert v.grade("FINAL: Lyon", keyed).value == 0.0
    missing = v.grade("I think Paris", keyed)
    assert missing.value is None and missing.reason == "the pattern found no answer in the reply"


def test_verifiers_are_registered_graders_that_check_their_rows():
    from traitrl.scenarios.record import Scenario

    assert {"numeric", "choice", "regex"} <= set(local_graders()) and not GRADERS["numeric"].needs_judge
    row = {"id": "q1", "split": "train", "domain": "education", "trait": "math", "grader": "numeric",
           "messages": [{"role": "user", "content": "2+2?"}],
           "rubric": [{"id": "correct", "description": "the final answer is 4", "points": 1}]}
    assert Scenario.model_validate({**row, "world": {"answer": "4"}}).grader == "numeric"
    with pytest.raises(ValueError, match="world.answer: rows graded by this verifier need the reference answer"):
        Scenario.model_validate(row)
    with pytest.raises(ValueError, match="expected an option letter A-J, got 'maybe'"):
        Scenario.model_validate({**row, "grader": "choice", "world": {"answer": "maybe"}})
    with pytest.raises(ValueError, match="world.pattern: not a valid regular expression"):
        Scenario.model_validate({**row, "grader": "regex", "world": {"pattern": "(unclosed"}})
    with pytest.raises(ValueError, match="unknown grader 'numerik'"):
        check_grader_name("numerik")
    assert check_grader_name("tests.helpers.user_rewards:length_reward")


def test_the_router_sends_rows_to_verifiers_and_user_rewards_with_reasons():
    spec = "tests.helpers.user_rewards:length_reward"
    router = make_router(_world_grader, names={"numeric", "world", spec})
    assert {"numeric", "choice", "regex", spec} <= set(router.graders)
    worlds = [json.dumps({"answer": "72"}), json.dumps({"answer": "72"}), "{}", "{}"]
    out = router([[]] * 4, ["#### 72", "I do not know", "short", "a reply that is much too long"],
                 grader=["numeric", "numeric", spec, spec], world=worlds, trait=["math"] * 4)
    assert out == [1.0, None, 1.0, 0.0]
    assert router.stats.unscored == 1
    assert router.stats.top_reasons() == [("numeric: no final answer found (no \\boxed{}, '####', 'the answer is' or number)", 1)]


def test_user_rewards_are_checked_when_loaded(tmp_path):
    assert load_user_reward("tests.helpers.user_rewards:always_none")([], ["a", "b"]) == [None, None]
    script = tmp_path / "my_reward.py"
    script.write_text("def exact(prompts, completions, **kw):\n    return [float(c == 'yes') for c in completions]\n")
    assert load_user_reward(f"{script}:exact")([], ["yes", "no"]) == [1.0, 0.0]
    with pytest.raises(UserError, match="cannot import tests.helpers.nope: ModuleNotFoundError"):
        load_user_reward("tests.helpers.nope:f")
    with pytest.raises(UserError, match="has no function 'missing'"):
        load_user_reward("tests.helpers.user_rewards:missing")
    with pytest.raises(UserError, match=r"takes \(prompts, completions, \*\*kwargs\)"):
        load_user_reward("tests.helpers.user_rewards:no_kwargs")
    with pytest.raises(UserError, match="no such file"):
        load_user_reward(f"{tmp_path / 'absent.py'}:f")


def test_a_row_without_its_answer_is_unscored_not_a_crash():
    grades = NumericVerifier().grades([[]] * 2, ["#### 3", "#### 3"], world=[json.dumps({"answer": "3"}), "{}"])
    assert [g.value for g in grades] == [1.0, None]
    assert grades[1].reason == "the row's world record has no 'answer'"
    assert NumericVerifier()([[]], ["#### 3"]) == [None]  # no world column at all
