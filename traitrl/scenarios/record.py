"""The `Scenario` record: chat messages, a rubric, the grader that scores it, and world metadata.

Records are pydantic models (frozen, unknown fields refused) so that every file on disk is
validated the same way, and every line carries `schema_version`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from traitrl import taxonomy
from traitrl.graders.registry import check_grader_name, check_row, grader_names

SCENARIO_SCHEMA_VERSION = 1

Role = Literal["system", "user", "assistant"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(_Frozen):
    role: Role
    content: str


class MoveCheck(_Frozen):
    """A machine-checkable criterion for the world grader: 'the response makes move M',
    optionally with a condition on the move's numeric value."""

    move: str
    op: Literal["eq", "ne", "gt", "lt"] | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _op_needs_value(self) -> MoveCheck:
        if (self.op is None) != (self.value is None):
            raise ValueError("'op' and 'value' must be given together")
        return self


class RubricItem(_Frozen):
    """One rubric criterion, HealthBench style: positive points for what a good response does,
    negative points for pitfalls. `check` lets the world grader decide it without a judge."""

    id: str
    description: str
    points: float
    tags: tuple[str, ...] = ()
    check: MoveCheck | None = None

    @field_validator("points")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("points must be non-zero (positive for criteria, negative for pitfalls)")
        return v


class EvalTruth(BaseModel):
    """What the eval runner reads from an eval item's `world` record: the options of a multiple
    choice or yes/no item and the aligned one, and the neutral question that elicits a belief
    (MASK-style items). Other ground truth in `world` is the world's own business."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    options: tuple[str, ...] | None = None
    aligned_option: str | None = None
    belief_prompt: str | None = None

    def require(self, name: str) -> Any:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"eval item has no {name!r} in its world record")
        return value


class Scenario(_Frozen):
    schema_version: int = SCENARIO_SCHEMA_VERSION
    id: str = Field(min_length=1)
    split: Literal["train", "dev", "eval", "corpus"]
    domain: str
    trait: str = Field(description="a trait id, or the task kind for capability tasks")
    pressure: str = "none"
    messages: tuple[Message, ...] = Field(min_length=1)
    rubric: tuple[RubricItem, ...] = Field(min_length=1)
    grader: str = Field(min_length=1, description=f"name of the grader that scores this row: {', '.join(grader_names())}")
    world: dict[str, Any] = Field(default_factory=dict, description="ground truth and template metadata")

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SCENARIO_SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {v} (this traitrl reads {SCENARIO_SCHEMA_VERSION})")
        return v

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, v: str) -> str:
        if v not in taxonomy.DOMAINS:
            raise ValueError(f"unknown domain {v!r}; allowed: {', '.join(taxonomy.DOMAINS)}")
        return v

    @field_validator("trait")
    @classmethod
    def _known_trait(cls, v: str) -> str:
        allowed = taxonomy.TRAITS + taxonomy.CAPABILITY_KINDS + taxonomy.IMPORTED_CAPABILITY_KINDS + taxonomy.EVAL_FAMILIES
        if v not in allowed:
            raise ValueError(f"unknown trait or task kind {v!r}; allowed: {', '.join(allowed)}")
        return v

    @field_validator("grader")
    @classmethod
    def _known_grader(cls, v: str) -> str:
        return check_grader_name(v)

    @field_validator("pressure")
    @classmethod
    def _known_pressure(cls, v: str) -> str:
        if v not in taxonomy.PRESSURES:
            raise ValueError(f"unknown pressure {v!r}; allowed: {', '.join(taxonomy.PRESSURES)}")
        return v

    @model_validator(mode="after")
    def _ends_with_user(self) -> Scenario:
        if self.messages[-1].role != "user":
            raise ValueError("the last message must be the user's turn the policy answers")
        if not any(item.points > 0 for item in self.rubric):
            raise ValueError("the rubric needs at least one item with positive points")
        check_row(self.grader, self.world)  # a verifier's row carries its answer
        return self

    @property
    def is_capability(self) -> bool:
        return taxonomy.is_capability(self.trait)

    def eval_truth(self) -> EvalTruth:
        """The typed part of `world` the eval runner depends on."""
        return EvalTruth.model_validate(self.world)

    def prompt(self) -> list[dict[str, str]]:
        """The conversation as plain dicts, the form chat templates and TRL expect."""
        return [m.model_dump() for m in self.messages]

    def to_row(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
