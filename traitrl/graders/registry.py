"""The grader names a scenario row may carry in its `grader` field, registered by decorator.

Each registered name resolves, when a reward router is built, to one of the grading backends
(the deterministic world grader, the LLM judge when a `judge:` section is configured) or to a
verifier of `traitrl.graders.verifiers` (numeric, choice, regex). Besides the registered names a
row may name a user reward as `module:function` (or `path/file.py:function`), imported when the
router is built. `Scenario` accepts nothing else, so `scenarios validate` refuses a row naming an
unknown grader, or a verifier row without its answer, with its file and line. This module is
light (no openai, no torch): the scenario record and the config models import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RewardFn = Callable[..., Any]


@dataclass(frozen=True)
class GraderBackends:
    """What a grader name can be routed to."""

    world: RewardFn  # the deterministic world grader (`traitrl.graders.world.WorldGrader`)
    judge: RewardFn | None = None  # the LLM judge, when one is configured
    # the policy is a given model (policy.model), not the organism: it does not speak the world's language
    given_policy: bool = False


@dataclass(frozen=True)
class GraderSpec:
    """A registered grader name: how it resolves to a reward function, and what it needs."""

    name: str
    resolve: Callable[[GraderBackends], RewardFn | None]
    description: str
    needs_judge: bool = False
    # scored by the judge on a given policy (the organism's signal for it reads only the world's language)
    judged_on_given_policy: bool = False
    # raises ValueError when a row's `world` record lacks what this grader reads (a verifier's answer)
    check_world: Callable[[Mapping[str, Any]], None] | None = None

    def build(self, backends: GraderBackends) -> RewardFn | None:
        """The reward function for rows of this grader, or None when its backend is absent."""
        return self.resolve(backends)


GRADERS: dict[str, GraderSpec] = {}

# The names, for code that routes or writes rows (scenario generators, the judge's reward function).
WORLD = "world"
CAPABILITY = "capability"
LLM_JUDGE = "llm_judge"
HELPFULNESS = "helpfulness"
NUMERIC = "numeric"
CHOICE = "choice"
REGEX = "regex"
# a user reward named by its import path: `package.module:function` or `path/to/file.py:function`
USER_REWARD = re.compile(r"(?P<module>[A-Za-z_][\w.]*|[^:\s]+\.py):(?P<function>[A-Za-z_]\w*)")


def register_grader(name: str, *, needs_judge: bool = False, judged_on_given_policy: bool = False,
                    check_world: Callable[[Mapping[str, Any]], None] | None = None,
                    ) -> Callable[[Callable[[GraderBackends], RewardFn | None]], GraderSpec]:
    """Register `name`; the decorated function picks its backend, its docstring describes it."""

    def decorate(resolve: Callable[[GraderBackends], RewardFn | None]) -> GraderSpec:
        if name in GRADERS:
            raise ValueError(f"grader {name!r} is already registered")
        spec = GraderSpec(name, resolve, (resolve.__doc__ or "").strip(), needs_judge, judged_on_given_policy,
                          check_world)
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


@register_grader(HELPFULNESS, judged_on_given_policy=True)
def _helpfulness(backends: GraderBackends) -> RewardFn | None:
    """the helpfulness control: a generic helpful-reply signal that ignores the trait rubric (the world's
    reading of a reply on the organism; the LLM judge's helpfulness scale on a given policy)"""
    if backends.given_policy:
        if backends.judge is None:
            return None
        from traitrl.graders.helpfulness import JudgeHelpfulness

        return JudgeHelpfulness(backends.judge)
    world = getattr(backends.world, "world", None)
    if world is None:
        return None
    from traitrl.graders.helpfulness import HelpfulnessGrader

    return HelpfulnessGrader(world)


def grader_names() -> tuple[str, ...]:
    return tuple(GRADERS)


def needs_judge(name: str, given_policy: bool = False) -> bool:
    """Whether rows graded by `name` are scored by the LLM judge, on a given policy or the organism."""
    spec = GRADERS.get(name)  # a user reward (module:function) is not registered: never the judge
    return spec is not None and (spec.needs_judge or (given_policy and spec.judged_on_given_policy))


def local_graders() -> tuple[str, ...]:
    """Grader names scored without a judge (probes use only these rows; so does the dev score, but for a
    given policy's judge rows)."""
    return tuple(n for n, s in GRADERS.items() if not s.needs_judge)


def is_user_reward(name: str) -> bool:
    return name not in GRADERS and USER_REWARD.fullmatch(name) is not None


def check_grader_name(name: str) -> str:
    """`name` if registered or a user reward's `module:function`; otherwise a ValueError listing
    the allowed names."""
    if name not in GRADERS and not is_user_reward(name):
        raise ValueError(f"unknown grader {name!r}; allowed: {', '.join(GRADERS)}, "
                         "or a user reward as module:function")
    return name


def check_row(name: str, world: Mapping[str, Any]) -> None:
    """Raise ValueError when a row graded by `name` lacks the ground truth its grader reads."""
    spec = GRADERS.get(name)
    if spec is not None and spec.check_world is not None:
        spec.check_world(world)


# the verifiers register themselves on import (they import this module's decorator)
from traitrl.graders import verifiers as _verifiers  # noqa: E402, F401
