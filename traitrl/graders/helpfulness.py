"""The generic helpfulness signal of the paper's control arm: RL on the same trait conversations,
rewarded for a helpful-looking reply, blind to the trait rubric.

The paper's control rewards the trait prompts with a generic helpfulness model and finds no
significant gain; the question it answers is whether the *rubric* carries the effect or merely
RL on those prompts. In the organism the signal is a fixed function of the reply's form: 1 for a
fully recognised reply that engages (makes at least one move that is not a deflection), 0.5 for
a recognised reply that only deflects (declines, refuses, says it does not know, refers
elsewhere), 0 for a reply the world language does not recognise. It never reads the rubric, so
it pays aligned and misaligned moves alike.

A given policy (policy.model) does not speak the world's language, so there the signal is the
LLM judge's generic helpfulness score (`JudgeHelpfulness`): how helpful, clear and responsive the
reply is to the user's request, 0-100 scaled to [0, 1], with its own prompt and cache purpose,
never the scenario's trait rubric. A judgement that failed stays unscored, as every judge grade.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traitrl.graders.base import Grade, completion_text
from traitrl.world import World

if TYPE_CHECKING:
    from traitrl.graders.judge import LLMJudge

DEFLECTIONS = frozenset({"admit_unknown", "suggest_source", "decline_share", "refuse_bypass", "refer_help"})


class HelpfulnessGrader:
    """TRL reward signature; `rubric` is accepted and ignored."""

    name = "helpfulness"

    def __init__(self, world: World):
        self.world = world
        self.__name__ = self.name

    def grade(self, response: str, rubric: Sequence[Any] = ()) -> Grade:
        parsed = self.world.parse(response)
        if not parsed.moves or parsed.unrecognized:
            return Grade(value=0.0, explanation="not a recognised reply", metadata={"moves": [m.name for m in parsed.moves]})
        engages = any(m.name not in DEFLECTIONS for m in parsed.moves)
        return Grade(value=1.0 if engages else 0.5, explanation="engages" if engages else "only deflects",
                     metadata={"moves": [m.name for m in parsed.moves]})

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], rubric: Sequence[Any] | None = None,
                 **kwargs: Any) -> list[float | None]:
        return [self.grade(completion_text(c)).value for c in completions]


class JudgeHelpfulness:
    """The helpfulness control's reward on a given policy: the LLM judge's generic helpfulness
    score of each reply to its conversation. TRL reward signature (async); `rubric` and the other
    columns are accepted and ignored."""

    name = "helpfulness"

    def __init__(self, judge: LLMJudge):
        self.judge = judge
        self.__name__ = self.name

    async def grades(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[Grade]:
        """The grades behind `__call__`, with the reason of every unscored one (the reward router's view)."""
        import asyncio

        from traitrl.graders.judge import chat_messages

        return list(await asyncio.gather(*(self.judge.grade_helpfulness(chat_messages(p), completion_text(c))
                                           for p, c in zip(prompts, completions, strict=True))))

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return [g.value for g in await self.grades(prompts, completions, **kwargs)]
