"""The LLM-judge grader: rubric items judged yes/no by an OpenAI-compatible model, HealthBench arithmetic
on top, and a 0-100 free-form scale.

One `LLMJudge` serves RL rewards (its async `__call__` is a TRL reward function) and evaluations
(`grade_batch_sync`), through one cache, so a completion graded during training is free to grade
again in an eval. Every grade keeps the judge's prompts and replies in its metadata; a judgement that
failed or could not be parsed leaves the grade *unscored* with a reason, never 0.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from traitrl.graders.base import Grade, ItemResult, rubric_score
from traitrl.graders.judge_prompts import (
    HELPFULNESS_PROMPT,
    HELPFULNESS_PURPOSE,
    check_scale_template,
    parse_rubric_verdict,
    parse_scale_score,
    render_turns,
    rubric_item_prompt,
    scale_prompt,
)
from traitrl.graders.llm_client import ChatClient, ChatOutcome, JudgeConfig, run_sync
from traitrl.graders.registry import LLM_JUDGE
from traitrl.scenarios.record import RubricItem, Scenario

__all__ = ["JudgeConfig", "LLMJudge", "RubricTask", "ScaleTask"]

GRADER_NAME = LLM_JUDGE  # the rows this judge grades as a reward function


@dataclass(frozen=True)
class RubricTask:
    """Grade `response` as the reply to `messages` against `rubric`."""

    messages: Sequence[Mapping[str, str]]
    response: str
    rubric: Sequence[RubricItem | Mapping[str, Any]]

    @classmethod
    def from_scenario(cls, scenario: Scenario, response: str) -> RubricTask:
        return cls(scenario.prompt(), response, scenario.rubric)


@dataclass(frozen=True)
class ScaleTask:
    """Score `answer` to `question` from 0 to 100 with `judge_prompt` (a template with {question}/{answer})."""

    question: str
    answer: str
    judge_prompt: str | None = None


class LLMJudge:
    """Grades through an OpenAI-compatible judge. Cheap to build; the key is read when a client is."""

    def __init__(self, config: JudgeConfig, *, client: ChatClient | None = None) -> None:
        self.config = config
        self.client = client or ChatClient(config)
        self.__name__ = GRADER_NAME  # TRL names a reward function by `__name__` in its logs
        self._grades = 0
        self._unscored = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LLMJudge(model={self.config.model!r}, endpoint={self.settings['endpoint']!r})"

    @property
    def settings(self) -> dict[str, Any]:
        return self.config.settings()

    def stats(self) -> dict[str, Any]:
        """Calls, cache hits, tokens, failures and unscored grades, for the results file."""
        with self._lock:
            grades, unscored = self._grades, self._unscored
        out: dict[str, Any] = {"grades": grades, "unscored": unscored}
        out["unscored_rate"] = round(unscored / grades, 6) if grades else 0.0
        out.update(self.client.stats())
        return out

    def _tally(self, grade: Grade) -> Grade:
        with self._lock:  # TRL may grade on its daemon loop while a sync eval runs
            self._grades += 1
            self._unscored += not grade.scored
        return grade

    # ---- rubrics ----

    async def grade_rubric(
        self,
        messages: Sequence[Mapping[str, str]],
        response: str,
        rubric: Sequence[RubricItem | Mapping[str, Any]],
    ) -> Grade:
        items = [_rubric_item(r) for r in rubric]
        convo = [{"role": m["role"], "content": m["content"]} for m in messages]
        prompts = [rubric_item_prompt(convo, response, it.description, it.points) for it in items]
        outcomes = await asyncio.gather(
            *(
                self.client.complete(
                    self.client.request([{"role": "user", "content": p}], purpose="rubric_item"),
                    parse_rubric_verdict,
                )
                for p in prompts
            )
        )
        results = tuple(_item_result(it, o) for it, o in zip(items, outcomes, strict=True))
        judgements = [
            _judgement(it.id, p, o) for it, p, o in zip(items, prompts, outcomes, strict=True)
        ]
        metadata = {"grader": GRADER_NAME, "judge": self.settings, "judgements": judgements}
        value = rubric_score(results)
        if value is None:
            failed = [r for r in results if r.met is None]
            reason = f"{len(failed)} of {len(results)} rubric items unjudged: " + "; ".join(
                f"{r.id}: {r.reason}" for r in failed
            )
            return self._tally(Grade(None, results, f"unscored: {reason}", reason, metadata))
        met = sum(1 for r in results if r.met)
        return self._tally(
            Grade(value, results, f"{met} of {len(results)} criteria met", None, metadata)
        )

    # ---- 0-100 scales ----

    async def grade_scale(
        self, question: str, answer: str, judge_prompt: str | None = None, purpose: str = "scale_0_100"
    ) -> Grade:
        """`Grade.value` is the score divided by 100 (all grades live in [0, 1]); the raw 0-100 score
        is in `metadata['score']`. `purpose` is part of the cache key: a prompt family of its own."""
        prompt = scale_prompt(question, answer, judge_prompt)
        outcome = await self.client.complete(
            self.client.request([{"role": "user", "content": prompt}], purpose=purpose),
            parse_scale_score,
        )
        metadata = {
            "grader": GRADER_NAME,
            "judge": self.settings,
            "judgements": [_judgement("score", prompt, outcome)],
        }
        if outcome.value is None:
            reason = outcome.reason or "no score"
            return self._tally(Grade(None, (), f"unscored: {reason}", reason, metadata))
        metadata["score"] = outcome.value
        return self._tally(
            Grade(outcome.value / 100.0, (), f"score {outcome.value:g}/100", None, metadata)
        )

    async def grade_helpfulness(self, messages: Sequence[Mapping[str, str]], response: str) -> Grade:
        """Generic helpfulness on the 0-100 scale, blind to any rubric: the helpfulness control's
        reward on a given policy. The judge sees the whole conversation and the reply."""
        convo = [{"role": m["role"], "content": m["content"]} for m in messages]
        return await self.grade_scale(render_turns(convo), response, HELPFULNESS_PROMPT, HELPFULNESS_PURPOSE)

    # ---- batches ----

    async def grade_batch(self, tasks: Sequence[RubricTask | ScaleTask]) -> list[Grade]:
        """All tasks at once; the client's semaphore keeps at most `max_concurrency` requests in flight."""
        return list(await asyncio.gather(*(self._grade_task(t) for t in tasks)))

    def grade_batch_sync(self, tasks: Sequence[RubricTask | ScaleTask]) -> list[Grade]:
        return self._sync(lambda: self.grade_batch(tasks))

    async def _grade_task(self, task: RubricTask | ScaleTask) -> Grade:
        if isinstance(task, RubricTask):
            return await self.grade_rubric(task.messages, task.response, task.rubric)
        return await self.grade_scale(task.question, task.answer, task.judge_prompt)

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop; `async with judge:` does it for you."""
        await self.client.aclose()

    async def __aenter__(self) -> LLMJudge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _sync(self, make: Callable[[], Any]) -> Any:
        async def run() -> Any:
            try:
                return await make()
            finally:
                await self.client.aclose()

        return run_sync(run)

    # ---- TRL reward ----

    async def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        rubric: Sequence[Any] | None = None,
        judge_prompt: Sequence[str | None] | None = None,
        grader: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        """A TRL reward function (TRL >= 1.x awaits async rewards on its own loop).

        Rows with a `rubric` column are graded against it; rows with only a `judge_prompt` column on
        the 0-100 scale (scaled to [0, 1]); rows routed to another `grader`, or with neither, get
        None ("not applicable"), and so do rows whose judgement failed: TRL treats None as NaN and
        leaves it out of the group statistics instead of rewarding 0.
        """
        graded = await self.grades(prompts, completions, rubric, judge_prompt, grader, **kwargs)
        return [g.value for g in graded]

    async def grades(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        rubric: Sequence[Any] | None = None,
        judge_prompt: Sequence[str | None] | None = None,
        grader: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[Grade]:
        """The grades behind `__call__`, with the reason of every unscored one (the reward router's view)."""
        tasks = [
            _reward_task(i, prompts, completions, rubric, judge_prompt, grader)
            for i in range(len(completions))
        ]
        todo = [(i, t) for i, t in enumerate(tasks) if t is not None]
        grades = await self.grade_batch([t for _, t in todo])
        out = [Grade.unscored("not a judge row (no rubric or judge_prompt)")] * len(completions)
        for (i, _), g in zip(todo, grades, strict=True):
            out[i] = g
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and grades:
            log_metric("judge/unscored_frac", sum(not g.scored for g in grades) / len(grades))
        return out

    def reward_sync(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        """The same reward for trainers that call rewards synchronously."""
        return self._sync(lambda: self(prompts, completions, **kwargs))


def _rubric_item(r: RubricItem | Mapping[str, Any]) -> RubricItem:
    if isinstance(r, RubricItem):
        return r
    # HF datasets fill absent struct fields with None; drop them so defaults apply.
    return RubricItem.model_validate({k: v for k, v in r.items() if v is not None})


def _item_result(item: RubricItem, outcome: ChatOutcome[tuple[bool, str]]) -> ItemResult:
    if outcome.value is None:
        return ItemResult(item.id, item.points, None, outcome.reason or "not judged")
    met, explanation = outcome.value
    return ItemResult(item.id, item.points, met, explanation)


def _judgement(item_id: str, prompt: str, outcome: ChatOutcome[Any]) -> dict[str, Any]:
    return {
        "item": item_id,
        "prompt": prompt,
        "reply": outcome.reply,
        "cached": outcome.cached,
        "attempts": outcome.attempts,
        "reason": outcome.reason,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
    }


def _text(x: Any) -> str:
    """A TRL prompt or completion: plain text, or a conversation whose last message we want."""
    if isinstance(x, str):
        return x
    if isinstance(x, Sequence) and x and isinstance(x[-1], Mapping):
        return str(x[-1].get("content", ""))
    raise TypeError(f"expected text or a list of chat messages, got {type(x).__name__}")


def chat_messages(prompt: Any) -> list[dict[str, str]]:
    """A TRL prompt (text, or a conversation) as chat messages."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]


def _reward_task(
    i: int,
    prompts: Sequence[Any],
    completions: Sequence[Any],
    rubric: Sequence[Any] | None,
    judge_prompt: Sequence[str | None] | None,
    grader: Sequence[str | None] | None,
) -> RubricTask | ScaleTask | None:
    if grader is not None and grader[i] not in (None, GRADER_NAME):
        return None
    answer = _text(completions[i])
    if rubric is not None and rubric[i]:
        return RubricTask(chat_messages(prompts[i]), answer, rubric[i])
    if judge_prompt is not None and judge_prompt[i]:
        check_scale_template(judge_prompt[i])
        user_turns = [m for m in chat_messages(prompts[i]) if m["role"] == "user"]
        question = user_turns[-1]["content"] if user_turns else _text(prompts[i])
        return ScaleTask(question, answer, judge_prompt[i])
    return None
