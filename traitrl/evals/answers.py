"""The one generate-then-grade path: a policy answers conversations in batches, a grader scores
each answer against its rubric.

The eval suite, dev scoring during training and the organism probe all call `answer_and_grade`,
so they share one generation helper (seeded, batched, on the model's device) and one grader
object. An answer the grader cannot score keeps its unscored `Grade` (value None, with the
reason): callers report the unscored share beside their means, never a zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from traitrl.graders.base import Grade

Conversation = list[dict]
Rubric = Sequence[Any]


class Answers(Protocol):
    """What answers: `traitrl.models.loader.Policy` (a model, its tokenizer and sampling)."""

    def generate(self, conversations: list[Conversation]) -> list[str]: ...


class Grades(Protocol):
    """What grades: `WorldGrader` (the judge's sync path has the same shape)."""

    def grade(self, response: str, rubric: Rubric) -> Grade: ...


@dataclass(frozen=True)
class Answer:
    """One conversation's reply and its grade (None when it was asked without a rubric)."""

    conversation: Conversation
    response: str
    grade: Grade | None

    @property
    def value(self) -> float | None:
        return None if self.grade is None else self.grade.value


def answer_and_grade(policy: Answers, tasks: Sequence[tuple[Conversation, Rubric | None]], grader: Grades, *,
                     progress: Callable[[int], None] | None = None, chunk: int | None = 512) -> list[Answer]:
    """Generate a reply to every conversation and grade it against its rubric, in input order.

    Replies are generated `chunk` conversations per call (None = all in one call), each call
    seeded alike by the policy's sampling settings; `progress(k)` follows each call. A task with
    rubric None is answered but not graded (the caller grades it once it knows more, e.g. the
    model's own belief for MASK-style consistency).
    """
    convs = [c for c, _ in tasks]
    step = chunk or max(1, len(convs))
    responses: list[str] = []
    for start in range(0, len(convs), step):
        part = convs[start:start + step]
        responses.extend(policy.generate(part))
        if progress:
            progress(len(part))
    return [Answer(conv, response, None if rubric is None else grader.grade(response, rubric))
            for (conv, rubric), response in zip(tasks, responses, strict=True)]
