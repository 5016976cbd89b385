"""The grader names a scenario row may carry in its `grader` field, registered by decorator.

Each registered name resolves, when a reward router is built, to one of the grading backends
(the deterministic world grader, or the LLM judge when a `judge:` section is configured). The
names here are the only ones `Scenario` accepts, so `scenarios validate` refuses a row naming
an unknown grader with its file and line. This module is light (no openai, no torch): the
scenario record and the config models import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RewardFn = Callable[..., Any]


@dataclass(frozen=True)
class GraderBackends:
    """What a grader name can be routed to."""

    world: RewardFn  # the deterministic world grader (`traitrl.graders.world.WorldGrader`)
    judge: RewardFn | None = None  # the LLM judge, when one is configured


@dataclass(frozen=True)
class GraderSpec:
    """A registered grader name: how it resolves to a reward function, and what it needs."""

    name: str
    resolve: Callable[[GraderBackends], RewardFn | None]
    description: str
    needs_judge: bool = False

    def build(self, backends: GraderBackends) -> RewardFn | None:
        """The reward function for rows of this grader, or None when its backend is absent."""
        return self.resolve(backends)


GRADERS: dict[str, GraderSpec] = {}

# The names, for code that routes or writes rows (scenario generators, the judge's reward function).
WORLD = "world"
CAPABILITY = "capability"
LLM_JUDGE = "llm_judge"
HELPFULNESS = "helpfulness"


def register_grader(name: str, *, needs_judge: bool = False) -> Callable[[Callable[[GraderBackends], RewardFn | None]], GraderSpec]:
    """Register `name`; the decorated function picks its backend, its docstring describes it."""

    def decorate(resolve: Callable[[GraderBackends], RewardFn | None]) -> GraderSpec:
        if name in GRADERS:
            raise ValueError(f"grader {name!r} is already registered")
        spec = GraderSpec(name, resolve, (resolve.__doc__ or "").strip(), needs_judge)
        GRADERS[name] = spec
        return spec

    return decorate


@register_grader(WORLD)
def _world(backends: GraderBackends) -> RewardFn | None:
    """trait scenarios and eval items: the rubric's machine checks, by the world grader"""
    return backends.world


@register_grader(CAPABILITY)
def _capability(backends: GraderBackends) -> RewardFn | None:
    """capability tasks (the standard RL mix): verifiable answers, by the world grader"""
    return backends.world


@register_grader(LLM_JUDGE, needs_judge=True)
def _llm_judge(backends: GraderBackends) -> RewardFn | None:
    """rubrics without machine checks (LLM-written scenarios): graded by the configured LLM judge"""
    return backends.judge


@register_grader(HELPFULNESS)
def _helpfulness(backends: GraderBackends) -> RewardFn | None:
    """the helpfulness control: a generic helpful-reply signal that ignores the trait rubric (world replies)"""
    world = getattr(backends.world, "world", None)
    if world is None:
        return None
    from traitrl.graders.helpfulness import HelpfulnessGrader

    return HelpfulnessGrader(world)


def grader_names() -> tuple[str, ...]:
    return tuple(GRADERS)


def local_graders() -> tuple[str, ...]:
    """Grader names scored without a judge (the dev score and probes use only these rows)."""
    return tuple(n for n, s in GRADERS.items() if not s.needs_judge)


def check_grader_name(name: str) -> str:
    """`name` if registered; otherwise a ValueError listing the allowed names."""
    if name not in GRADERS:
        raise ValueError(f"unknown grader {name!r}; allowed: {', '.join(GRADERS)}")
    return name
