"""Verifiers for a standard RL mix: rows with a checkable answer, scored without a judge.

Each verifier reads its ground truth from the row's `world` record and has TRL's reward
signature (`prompts, completions, world=..., **columns -> list[float | None]`), plus `grade`
for one response and `grades` for a batch, whose `Grade.reason` says why an answer was unscored.
An answer from which no value can be extracted is *unscored* (None, with a reason), never 0:
a reply that states a wrong number is 0, a reply that states no number is not graded at all.

- `numeric`: exact match of a final answer (GSM8K's `#### 72` and MATH's `\\boxed{}` references;
  replies ending "The answer is 72.", "#### 72", "\\boxed{72}", or else their last number).
  Numbers compare by value (commas, `$`, `%` and a trailing `.0` do not matter); a reference
  that is not a number (MATH's LaTeX answers) compares as a normalised string.
- `choice`: a multiple-choice letter ("(B)", "Answer: B", "B." or "\\boxed{B}").
- `regex`: the row's `pattern`; with an `answer`, the last match (its first group, if any) must
  equal it, else any match scores 1.
- a user reward `module:function` (or `path/to/file.py:function`) with TRL's signature, named in
  the row's `grader` field and imported when the reward router is built.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from traitrl.errors import UserError
from traitrl.graders.base import Grade, completion_text
from traitrl.graders.registry import (
    CHOICE,
    NUMERIC,
    REGEX,
    USER_REWARD,
    GraderBackends,
    register_grader,
)

# a number as people write it: thousands commas, decimals, a sign, a currency sign, a fraction
_NUMBER = re.compile(r"(?<![\w.])[-−]?\s?\\?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?|(?<![\w.])[-−]?\.\d+")
_HASHES = re.compile(r"####\s*([^\n]*)")
_ANSWER_IS = re.compile(r"(?i:answer)\b\s*(?:(?i:is)\s*)?[:=]?\s*([^\n]*)")
_LATEX_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\ |\^\{?\\circ\}?|\\%|%|\\\$|\$|\s+")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")


def _truth(world: Any) -> dict[str, Any]:
    """A row's `world` record: a dict, or the JSON string the dataset column holds."""
    if isinstance(world, str):
        return json.loads(world) if world else {}
    return dict(world or {})


def last_boxed(text: str) -> str | None:
    """The contents of the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced; None if none."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i:j - 1].strip() if depth == 0 else None


def to_number(text: str) -> Fraction | None:
    """The value of `text` if it is one number (`1,234.50`, `$72`, `-3/4`, `\\frac{3}{4}`, `50%`)."""
    s = _TEXT.sub("", text)
    s = _FRAC.sub(r"(\1)/(\2)", s)
    s = _LATEX_NOISE.sub("", s).replace("−", "-").replace("(", "").replace(")", "").rstrip(".")
    if re.fullmatch(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+", s) is None:
        return None
    try:
        return Fraction(s.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def first_number(text: str) -> Fraction | None:
    for m in _NUMBER.finditer(text):
        if (v := to_number(m.group())) is not None:
            return v
    return None


def canonical(text: str) -> str:
    """A LaTeX or plain answer with spacing, `\\left`/`\\right`, units markup and `dfrac` removed."""
    s = _TEXT.sub(r"\1", text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    return _LATEX_NOISE.sub("", s).rstrip(".")


def reference_answer(text: str) -> str | None:
    """The final answer of a reference solution: after GSM8K's last `####`, or MATH's last
    `\\boxed{}`; None when it has neither."""
    hashes = _HASHES.findall(text)
    if hashes and hashes[-1].strip():
        return hashes[-1].strip()
    return last_boxed(text)


def final_answer(response: str) -> tuple[str, str] | None:
    """(candidate, how it was found) for a reply's final answer, in order of trust: the last
    `\\boxed{}`, the last `####` line, the last "answer is ...", else the last number."""
    if (boxed := last_boxed(response)) is not None:
        return boxed, "boxed"
    hashes = [h for h in _HASHES.findall(response) if h.strip()]
    if hashes:
        return hashes[-1].strip(), "####"
    stated = [a for a in _ANSWER_IS.findall(response) if a.strip()]
    if stated:
        return stated[-1].strip(), "answer is"
    numbers = _NUMBER.findall(response)
    return (numbers[-1].strip(), "last number") if numbers else None


class Verifier:
    """A TRL reward function over rows whose `world` record holds the ground truth."""

    name = "verifier"

    def __init__(self) -> None:
        self.__name__ = self.name  # TRL names reward functions by __name__ in its logs

    def grade(self, response: str, truth: Mapping[str, Any]) -> Grade:
        raise NotImplementedError

    def grades(self, prompts: Sequence[Any], completions: Sequence[Any], world: Sequence[Any] | None = None,
               **kwargs: Any) -> list[Grade]:
        if world is None:
            return [Grade.unscored(f"{self.name}: the row has no `world` record with its answer")] * len(completions)
        return [self._grade_row(completion_text(c), w) for c, w in zip(completions, world, strict=True)]

    def _grade_row(self, response: str, world: Any) -> Grade:
        try:
            return self.grade(response, _truth(world))
        except KeyError as e:  # a row that bypassed `Scenario` validation
            return Grade.unscored(f"the row's world record has no {e.args[0]!r}")

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], world: Sequence[Any] | None = None,
                 **kwargs: Any) -> list[float | None]:
        return [g.value for g in self.grades(prompts, completions, world, **kwargs)]


def _verdict(ok: bool, got: str, want: str, how: str) -> Grade:
    return Grade(value=1.0 if ok else 0.0, explanation=f"answer {got!r} ({how}) {'=' if ok else '!='} {want!r}",
                 metadata={"extracted": got, "how": how, "reference": want})


class NumericVerifier(Verifier):
    name = NUMERIC

    def grade(self, response: str, truth: Mapping[str, Any]) -> Grade:
        want = str(truth["answer"])
        if not response.strip():
            return Grade.unscored("empty reply")
        found = final_answer(response)
        if found is None:
            return Grade.unscored("no final answer found (no \\boxed{}, '####', 'the answer is' or number)")
        got, how = found
        ref = to_number(want)
        if ref is None:  # a LaTeX answer: compare as text
            return _verdict(canonical(got) == canonical(want), got, want, how)
        value = to_number(got)
        if value is None:
            value = first_number(got)
        if value is None:
            return Grade.unscored(f"no number in the final answer {got[:40]!r} ({how})")
        return _verdict(value == ref, got, want, how)


_CHOICE_PATTERNS = (
    re.compile(r"\\boxed\{\s*\(?([A-J])\)?\s*\}"),
    re.compile(r"(?i:answer)\s*(?:(?i:is)\s*)?[:=]?\s*\(?([A-J])\)?(?![A-Za-z])"),
    re.compile(r"\(([A-J])\)"),
    re.compile(r"^\s*([A-J])(?:[.):]|\s*$)"),
)


def choice_letter(response: str) -> str | None:
    """The option letter a reply chooses ("\\boxed{B}", "Answer: B", "(B)", or "B." first), or None."""
    for pattern in _CHOICE_PATTERNS:
        found = pattern.findall(response)
        if found:
            return found[-1]
    return None


class ChoiceVerifier(Verifier):
    name = CHOICE

    def grade(self, response: str, truth: Mapping[str, Any]) -> Grade:
        want = str(truth["answer"]).strip().strip("()").upper()
        if not response.strip():
            return Grade.unscored("empty reply")
        got = choice_letter(response)
        if got is None:
            return Grade.unscored("no option letter found")
        return _verdict(got == want, got, want, "letter")


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class RegexVerifier(Verifier):
    name = REGEX

    def grade(self, response: str, truth: Mapping[str, Any]) -> Grade:
        pattern = _compiled(str(truth["pattern"]))
        if "answer" not in truth:
            hit = pattern.search(response) is not None
            return Grade(value=float(hit), explanation=f"pattern {'found' if hit else 'not found'}",
                         metadata={"pattern": pattern.pattern})
        matches = list(pattern.finditer(response))
        if not matches:
            return Grade.unscored("the pattern found no answer in the reply")
        last = matches[-1]
        got = (last.group(1) if pattern.groups else last.group()).strip()
        return _verdict(got == str(truth["answer"]).strip(), got, str(truth["answer"]), "pattern")


# -- what a row must carry, checked when a scenario file is read -------------------------------------

def _needs_answer(world: Mapping[str, Any]) -> None:
    if not str(world.get("answer", "")).strip():
        raise ValueError("world.answer: rows graded by this verifier need the reference answer")


def _choice_row(world: Mapping[str, Any]) -> None:
    _needs_answer(world)
    if not re.fullmatch(r"\(?[A-Ja-j]\)?", str(world["answer"]).strip()):
        raise ValueError(f"world.answer: expected an option letter A-J, got {world['answer']!r}")


def _regex_row(world: Mapping[str, Any]) -> None:
    pattern = world.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("world.pattern: rows graded by regex need a pattern")
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"world.pattern: not a valid regular expression: {e}") from None


@register_grader(NUMERIC, check_world=_needs_answer)
def _numeric(backends: GraderBackends) -> NumericVerifier:
    """verifiable answers (GSM8K, MATH): the final number (or LaTeX answer) equals world.answer"""
    return NumericVerifier()


@register_grader(CHOICE, check_world=_choice_row)
def _choice(backends: GraderBackends) -> ChoiceVerifier:
    """multiple-choice rows: the chosen option letter equals world.answer"""
    return ChoiceVerifier()


@register_grader(REGEX, check_world=_regex_row)
def _regex(backends: GraderBackends) -> RegexVerifier:
    """world.pattern matches the reply (with world.answer: its last match equals it)"""
    return RegexVerifier()


# -- user rewards ------------------------------------------------------------------------------------

def load_user_reward(spec: str) -> Callable[..., Any]:
    """The function a `module:function` or `path/file.py:function` grader name points to, checked
    to take TRL's reward arguments (prompts, completions, **kwargs); a UserError otherwise."""
    m = USER_REWARD.fullmatch(spec)
    if m is None:
        raise UserError(f"grader {spec!r}: a user reward is written module:function or path/file.py:function")
    where, name = m.group("module"), m.group("function")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise UserError(f"grader {spec!r}: {where}: no such file")
            mod_name = f"traitrl_user_reward_{abs(hash(str(path.resolve())))}"
            module = sys.modules.get(mod_name)
            if module is None:
                loader_spec = importlib.util.spec_from_file_location(mod_name, path)
                module = importlib.util.module_from_spec(loader_spec)  # type: ignore[arg-type]
                loader_spec.loader.exec_module(module)  # type: ignore[union-attr]
                sys.modules[mod_name] = module
        else:
            module = importlib.import_module(where)
    except UserError:
        raise
    except Exception as e:  # an ImportError, or whatever the user's module raises on import
        raise UserError(f"grader {spec!r}: cannot import {where}: {type(e).__name__}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UserError(f"grader {spec!r}: {where} has no function {name!r}")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn
    names = {p.name for p in params}
    if not any(p.kind is p.VAR_KEYWORD for p in params) or not {"prompts", "completions"} <= names:
        raise UserError(f"grader {spec!r}: a reward function takes (prompts, completions, **kwargs) "
                        "and returns one float or None per completion (TRL's reward signature)")
    return fn
