"""Grades and the HealthBench arithmetic shared by every grader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GRADE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ItemResult:
    """The verdict on one rubric item. `met` is None when the item could not be judged."""

    id: str
    points: float
    met: bool | None
    reason: str = ""


@dataclass(frozen=True)
class Grade:
    """A scored response. `value` is None when the response is *unscored*, with `reason` saying why:
    an unscored grade is never a zero reward."""

    value: float | None
    items: tuple[ItemResult, ...] = ()
    explanation: str = ""
    reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": GRADE_SCHEMA_VERSION,
            "value": self.value,
            "reason": self.reason,
            "explanation": self.explanation,
            "items": [vars(i) for i in self.items],
            "metadata": self.metadata,
        }

    @classmethod
    def unscored(cls, reason: str, **metadata: Any) -> Grade:
        return cls(value=None, reason=reason, explanation=f"unscored: {reason}", metadata=metadata)


def rubric_score(items: tuple[ItemResult, ...] | list[ItemResult]) -> float | None:
    """HealthBench arithmetic: points of met items / total positive points, clipped to [0, 1].

    Returns None when any item is undecided, so a partly judged rubric is never scored.
    """
    if any(i.met is None for i in items):
        return None
    total = sum(i.points for i in items if i.points > 0)
    if total <= 0:
        raise ValueError("a rubric needs at least one item with positive points")
    achieved = sum(i.points for i in items if i.met)
    return min(1.0, max(0.0, achieved / total))


def completion_text(completion: Any) -> str:
    """TRL passes completions as strings, or as message lists for conversational datasets."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content", ""))
    return str(completion)
