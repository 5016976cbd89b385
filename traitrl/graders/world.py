"""The deterministic world grader: parse a response into moves, check each rubric item.

One object serves RL (TRL reward signature) and evaluation (`grade`), so both share one
definition of a good answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from traitrl.graders.base import Grade, ItemResult, completion_text
from traitrl.world import World
from traitrl.world.language import Move

_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
}


def _as_dict(item: Any) -> Mapping[str, Any]:
    return item if isinstance(item, Mapping) else item.model_dump()


def _matches(check: Mapping[str, Any], moves: tuple[Move, ...]) -> bool:
    name, op = check["move"], check.get("op")
    for m in moves:
        if m.name != name:
            continue
        if op is None:
            return True
        if m.value is not None and _OPS[op](m.value, check["value"]):
            return True
    return False


class WorldGrader:
    """Scores responses against rubrics whose items carry a `check` (see `MoveCheck`)."""

    name = "world"

    def __init__(self, world: World):
        self.world = world
        self.__name__ = self.name  # TRL names reward functions by __name__ in its logs

    def grade(self, response: str, rubric: Sequence[Any]) -> Grade:
        parsed = self.world.parse(response)
        if not parsed.ok:
            why = "no world sentence found" if not parsed.moves else (
                f"{len(parsed.unrecognized)} of {parsed.n_sentences} sentences not recognised")
            return Grade.unscored(why, unrecognized=list(parsed.unrecognized[:3]))
        results = []
        total = achieved = 0.0
        for raw in rubric:
            item = _as_dict(raw)
            check = item.get("check")
            if check is None:
                return Grade.unscored(f"rubric item {item['id']!r} has no machine check; grade it with the llm judge")
            check = _as_dict(check)
            met = _matches(check, parsed.moves)
            points = float(item["points"])
            results.append(ItemResult(item["id"], points, met))
            if points > 0:
                total += points
            if met:
                achieved += points
        value = min(1.0, max(0.0, achieved / total))
        met_text = ", ".join(f"{r.id} ({r.points:+g})" for r in results if r.met) or "none"
        return Grade(
            value=value,
            items=tuple(results),
            explanation=f"met: {met_text}; {achieved:g}/{total:g} -> {value:.2f}",
            metadata={"moves": [m.name for m in parsed.moves]},
        )

    def grades(self, prompts: Sequence[Any], completions: Sequence[Any], rubric: Sequence[Any], **kwargs: Any) -> list[Grade]:
        """The grade of every completion, with the reason of each unscored one (the reward router's view)."""
        return [self.grade(completion_text(c), r) for c, r in zip(completions, rubric, strict=True)]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], rubric: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """TRL reward function: one float per completion, None when unscored."""
        return [g.value for g in self.grades(prompts, completions, rubric)]
