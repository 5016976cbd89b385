"""The common item record and the registry of benchmark formats.

Every format turns a local file into a list of items that share `ItemBase`: an id, the source
line, the chat prompt to send the policy, and the file's extra fields as metadata. A format is a
parser registered by decorator, so the name a user writes in `FORMAT:PATH` is the name in code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from traitrl.errors import UserError
from traitrl.scenarios.record import Message

ITEM_SCHEMA_VERSION = 1


class ItemBase(BaseModel):
    """What every benchmark item has. Subclasses fix `format` to their format's name, which makes
    the item list a discriminated union that round-trips through JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = ITEM_SCHEMA_VERSION
    id: str = Field(min_length=1, description="unique within the benchmark")
    format: str
    line: int = Field(ge=1, description="line of the record in the source file, for audits")
    messages: tuple[Message, ...] = Field(min_length=1, description="the prompt; ends with user")
    metadata: dict[str, Any] = Field(default_factory=dict, description="the record's extra fields")

    def prompt(self) -> list[dict[str, str]]:
        """The conversation as plain dicts, the form chat templates expect."""
        return [m.model_dump() for m in self.messages]


@dataclass(frozen=True)
class Source:
    """A decoded benchmark file handed to a parser. `path` is as the user wrote it (for messages);
    `name` is the file stem (for item ids)."""

    path: str
    name: str
    text: str


Parser = Callable[[Source], Sequence[ItemBase]]
# (item, response) -> the LLM judge's task for it (`traitrl.graders.judge.RubricTask` / `ScaleTask`)
JudgeTask = Callable[[Any, str], Any]
# (policy, item, prompt, response) -> the grade record of an item scored without a judge
LocalGrade = Callable[[Any, Any, list[dict[str, str]], str], dict[str, Any]]


@dataclass(frozen=True)
class Format:
    """A registered format: its parser, its item type, the metric its items feed, and how an item
    is scored: `local_grade` (from the response, without a judge) or `judge_task` (by the LLM judge).

    `directions` overrides `higher_is_better` for files (by stem) whose behaviour is known to run
    the other way, e.g. Anthropic's corrigibility file, where matching the behaviour is aligned.
    """

    name: str
    parse: Parser
    item_type: type[ItemBase]
    metric: str
    higher_is_better: bool
    description: str
    directions: Mapping[str, bool] = field(default_factory=dict)
    local_grade: LocalGrade | None = None
    judge_task: JudgeTask | None = None

    @property
    def needs_judge(self) -> bool:
        return self.judge_task is not None

    def higher_is_better_for(self, stem: str) -> bool:
        return self.directions.get(stem, self.higher_is_better)


_FORMATS: dict[str, Format] = {}


def register_format(
    name: str,
    *,
    item_type: type[ItemBase],
    metric: str,
    higher_is_better: bool,
    description: str,
    directions: Mapping[str, bool] | None = None,
    local_grade: LocalGrade | None = None,
    judge_task: JudgeTask | None = None,
) -> Callable[[Parser], Parser]:
    """Register `parse` under `name`. Its items must declare `format: Literal[name]`; exactly one
    of `local_grade` and `judge_task` says how an item is scored."""

    def decorate(parse: Parser) -> Parser:
        if name in _FORMATS:
            raise ValueError(f"benchmark format {name!r} is already registered")
        declared = item_type.model_fields["format"].annotation
        if getattr(declared, "__args__", None) != (name,):
            raise ValueError(f"{item_type.__name__}.format must be Literal[{name!r}]")
        if (local_grade is None) == (judge_task is None):
            raise ValueError(f"benchmark format {name!r}: give exactly one of local_grade and judge_task")
        _FORMATS[name] = Format(
            name, parse, item_type, metric, higher_is_better, description, dict(directions or {}),
            local_grade, judge_task,
        )
        return parse

    return decorate


def format_names() -> tuple[str, ...]:
    return tuple(sorted(_FORMATS))


def formats() -> tuple[Format, ...]:
    """Every registered format, in registration order."""
    return tuple(_FORMATS.values())


def get_format(name: str) -> Format:
    try:
        return _FORMATS[name]
    except KeyError:
        raise UserError(
            f"unknown benchmark format {name!r}; allowed: {', '.join(format_names())}"
        ) from None
