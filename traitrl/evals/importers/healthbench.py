"""HealthBench-style rubric conversations (JSONL).

Each line has `prompt` (chat messages), `rubrics` ([{criterion, points, tags}], negative points
for pitfalls), and optionally `example_tags` and `prompt_id`. The LLM judge decides each rubric
item; `grade_healthbench` then applies HealthBench's arithmetic (`rubric_score`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from traitrl.evals.importers._fields import (
    ErrorLog,
    FieldError,
    as_number,
    as_object,
    as_str,
    as_str_tuple,
    check_typos,
    iter_jsonl,
    reject_unknown,
    require,
)
from traitrl.evals.importers.base import ItemBase, Source, register_format
from traitrl.graders.base import Grade, ItemResult, rubric_score
from traitrl.scenarios.record import Message, RubricItem

FIELDS = ("prompt", "rubrics", "example_tags", "prompt_id")
ROLES = ("system", "user", "assistant")
RUBRIC_FIELDS = ("criterion", "points", "tags")


class HealthBenchItem(ItemBase):
    """A conversation to answer and the rubric the judge grades the answer against."""

    format: Literal["healthbench"] = "healthbench"
    rubric: tuple[RubricItem, ...]
    example_tags: tuple[str, ...] = ()


def _rubric_task(item: HealthBenchItem, response: str):
    """The judge grades the rubric item by item (HealthBench arithmetic)."""
    from traitrl.graders.judge import RubricTask

    return RubricTask(item.prompt(), response, item.rubric)


@register_format(
    "healthbench",
    item_type=HealthBenchItem,
    metric="rubric_score",
    higher_is_better=True,
    description="HealthBench-style JSONL (prompt messages, rubrics with points)",
    judge_task=_rubric_task,
)
def parse_healthbench(source: Source) -> list[HealthBenchItem]:
    log = ErrorLog(source.path)
    items: list[HealthBenchItem] = []
    first_line: dict[str, int] = {}
    for line, record in iter_jsonl(source.text, log):
        try:
            check_typos(record, FIELDS)
            messages = _messages(require(record, "prompt"))
            rubric = _rubric(require(record, "rubrics"))
            tags = as_str_tuple(record.get("example_tags", []), "example_tags")
            item_id = f"{source.name}:{line}"
            if "prompt_id" in record:
                item_id = as_str(record["prompt_id"], "prompt_id")
            if item_id in first_line:
                raise FieldError("prompt_id", f"{item_id!r} repeats line {first_line[item_id]}")
        except FieldError as e:
            log.add_error(line, e)
            continue
        first_line[item_id] = line
        items.append(
            HealthBenchItem(
                id=item_id,
                line=line,
                messages=messages,
                metadata={k: v for k, v in record.items() if k not in FIELDS},
                rubric=rubric,
                example_tags=tags,
            )
        )
    log.raise_if_any()
    return items


def _messages(value: Any) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise FieldError("prompt", "expected a non-empty list of {role, content} messages")
    messages = []
    for i, raw in enumerate(value):
        where = f"prompt[{i}]"
        msg = as_object(raw, where)
        reject_unknown(msg, ("role", "content"), f"{where}.")
        role = as_str(require(msg, "role", f"{where}."), f"{where}.role")
        if role not in ROLES:
            raise FieldError(f"{where}.role", f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
        content = as_str(require(msg, "content", f"{where}."), f"{where}.content")
        messages.append(Message(role=role, content=content))
    if messages[-1].role != "user":
        raise FieldError("prompt", "the last message must be the user's turn to answer")
    return tuple(messages)


def _rubric(value: Any) -> tuple[RubricItem, ...]:
    if not isinstance(value, list) or not value:
        raise FieldError("rubrics", "expected a non-empty list of {criterion, points, tags}")
    rubric = []
    for i, raw in enumerate(value):
        where = f"rubrics[{i}]"
        crit = as_object(raw, where)
        reject_unknown(crit, RUBRIC_FIELDS, f"{where}.")
        description = as_str(require(crit, "criterion", f"{where}."), f"{where}.criterion")
        points = as_number(require(crit, "points", f"{where}."), f"{where}.points")
        if points == 0 or not math.isfinite(points):
            raise FieldError(f"{where}.points", "expected a non-zero number (negative = pitfall)")
        tags = as_str_tuple(crit.get("tags", []), f"{where}.tags")
        rubric.append(RubricItem(id=f"r{i}", description=description, points=points, tags=tags))
    if not any(r.points > 0 for r in rubric):
        raise FieldError("rubrics", "needs at least one criterion with positive points")
    return tuple(rubric)


def grade_healthbench(
    item: HealthBenchItem,
    verdicts: Mapping[str, bool | None],
    reasons: Mapping[str, str] | None = None,
) -> Grade:
    """Combine per-criterion judge verdicts (rubric id -> met?) with HealthBench arithmetic.

    A criterion without a verdict, or with None, leaves the whole answer unscored.
    """
    reasons = reasons or {}
    results = tuple(
        ItemResult(r.id, r.points, verdicts.get(r.id), reasons.get(r.id, "")) for r in item.rubric
    )
    value = rubric_score(results)
    if value is None:
        undecided = sum(1 for r in results if r.met is None)
        return Grade(
            value=None,
            items=results,
            reason=f"{undecided} of {len(results)} rubric items were not judged",
            explanation="unscored: some rubric items were not judged",
        )
    met = sum(1 for r in results if r.met)
    return Grade(value=value, items=results, explanation=f"{met} of {len(results)} criteria met")
