"""The arms of the study: named data mixtures, registered by decorator, and nothing else.

An arm changes only the fields of `TrainConfig` that decide *which rows* enter the RL mix
(`trait_fraction` and the domain filters). Steps, batch, generations, lengths, learning rate and
seeds come from the shared config, so every arm is compute-matched by construction; `tests/
test_train.py` checks that the GRPO arguments of all arms are identical.

The names registered here are the names configs (`train.arm`), results and the report use; the
paper's comparisons are derived from them: every non-control paper arm against the control.
This module imports nothing heavy, so the config models can validate arm names with it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from traitrl.errors import UserError

if TYPE_CHECKING:
    from traitrl.config import TrainConfig

# The only fields an arm may set. `include_traits` is left to the user, so a leave-one-trait-out
# sweep applies to every arm alike.
DATA_FIELDS: tuple[str, ...] = ("trait_fraction", "include_domains", "exclude_domains", "include_traits", "trait_reward")


@dataclass(frozen=True)
class Arm:
    """A registered arm: the data fields it sets (a subset of `DATA_FIELDS`) and its role."""

    name: str
    data: Mapping[str, Any]
    description: str
    control: bool = False  # the compute-matched baseline every paper arm is compared with
    paper: bool = True  # one of the paper's arms (trained by `traitrl run`)
    label: str = ""  # the name as people say it, for reports and figures
    trait_data: str | None = None  # what its trait data covers (None: no trait data)
    held_out: str | None = None  # the eval group ("health" / "non_health") its trait data never saw


ARMS: dict[str, Arm] = {}


def register_arm(name: str, *, control: bool = False, paper: bool = True, label: str | None = None,
                 trait_data: str | None = None, held_out: str | None = None) -> Callable[[Callable[[], dict[str, Any]]], Arm]:
    """Register the function's returned data fields as the arm `name`; its docstring describes it."""

    def decorate(fields: Callable[[], dict[str, Any]]) -> Arm:
        if name in ARMS:
            raise ValueError(f"arm {name!r} is already registered")
        data = fields()
        extra = set(data) - set(DATA_FIELDS)
        if extra:
            raise ValueError(f"arm {name!r} sets {sorted(extra)}; an arm may change only the data mixture {DATA_FIELDS}")
        if control and any(a.control for a in ARMS.values()):
            raise ValueError(f"arm {name!r}: there is already a control arm")
        if held_out not in (None, "health", "non_health"):
            raise ValueError(f"arm {name!r}: held_out must be health or non_health (got {held_out!r})")
        arm = Arm(name, MappingProxyType(dict(data)), (fields.__doc__ or "").strip(), control, paper,
                  label or name.replace("_", " "), trait_data, held_out)
        ARMS[name] = arm
        return arm

    return decorate


@register_arm("baseline", control=True)
def _baseline() -> dict[str, Any]:
    """the compute-matched control: the standard RL mix alone"""
    return {"trait_fraction": 0.0, "include_domains": [], "exclude_domains": []}


@register_arm("trait", label="trait RL", trait_data="all domains")
def _trait() -> dict[str, Any]:
    """the small dose of trait RL, all seven training domains"""
    return {"include_domains": [], "exclude_domains": [], "trait_reward": "rubric"}


@register_arm("health_only", label="health only", trait_data="health only", held_out="non_health")
def _health_only() -> dict[str, Any]:
    """domain transfer: does health-only trait data improve non-health evaluations?"""
    return {"include_domains": ["health"], "exclude_domains": [], "trait_reward": "rubric"}


@register_arm("no_health_science", label="no health/science", trait_data="all but health and science",
              held_out="health")
def _no_health_science() -> dict[str, Any]:
    """... and does trait data without health and science improve health evaluations?"""
    return {"include_domains": [], "exclude_domains": ["health", "science"], "trait_reward": "rubric"}


@register_arm("helpfulness_control", label="helpfulness control", trait_data="all domains, helpfulness reward")
def _helpfulness_control() -> dict[str, Any]:
    """the paper's control: the trait arm's prompts, rewarded by a generic helpfulness signal that ignores the rubric"""
    return {"include_domains": [], "exclude_domains": [], "trait_reward": "helpfulness"}


@register_arm("custom", paper=False, trait_data="as configured")
def _custom() -> dict[str, Any]:
    """the data fields exactly as configured (sweeps over filters and fractions)"""
    return {}


CONTROL: str = next(a.name for a in ARMS.values() if a.control)
# The paper's arms in training order, the control first.
PAPER_ARMS: tuple[str, ...] = (CONTROL, *(a.name for a in ARMS.values() if a.paper and not a.control))
# The paper's comparisons in the order the report shows them: (key, treatment arm), each vs the control.
COMPARISONS: tuple[tuple[str, str], ...] = tuple((f"{a}_vs_{CONTROL}", a) for a in PAPER_ARMS if a != CONTROL)


def arm_names() -> tuple[str, ...]:
    return tuple(ARMS)


def get_arm(name: str) -> Arm:
    """The arm `name`; an unknown name is a `UserError` listing the allowed ones."""
    try:
        return ARMS[name]
    except KeyError:
        raise UserError(f"unknown arm {name!r}; allowed: {', '.join(ARMS)}") from None


# The data fields that decide nothing when no trait row is drawn (trait_fraction = 0).
TRAIT_ROW_FIELDS: tuple[str, ...] = ("include_domains", "exclude_domains", "include_traits", "trait_reward")


def arm_config(train: TrainConfig, arm: str | None = None) -> TrainConfig:
    """`train` with the data fields of `arm` (default: `train.arm`) applied; `arm` is recorded.
    Without trait rows the trait filters and reward are reset to their defaults, so an arm that
    trains the same rows has the same config (and stage key) whatever trait settings surround it:
    a sweep over trait fractions or left-out traits trains its baseline once."""
    name = arm or train.arm
    preset = get_arm(name).data
    cfg = type(train).model_validate(train.model_dump() | copy.deepcopy(dict(preset)) | {"arm": name})
    if cfg.trait_fraction == 0:
        fields = type(train).model_fields
        cfg = cfg.model_copy(update={f: fields[f].get_default(call_default_factory=True) for f in TRAIT_ROW_FIELDS})
    return cfg
