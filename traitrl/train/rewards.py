"""Reward routing: each row of the RL mix names its grader; one TRL reward function sends it there.

open-instruct style (a row names its verifier, a router dispatches), with TRL's reward signature
`f(prompts, completions, **columns) -> list[float | None]`. The graders are the same objects the
evaluations use (one definition of a good answer). A row's grader name is one registered in
`traitrl.graders.registry`, which says which backend scores it: the world grader scores both
trait scenarios ("world") and capability tasks ("capability"); the LLM judge scores "llm_judge"
rows when a judge is configured. An unscored grade stays None — TRL leaves it out of the group
baseline and gives it zero advantage — and is never turned into 0.0.

Per batch, the router logs reward means per kind (trait / capability), per trait and per
capability task kind through TRL's `log_metric` hook, so they land in every logger TRL feeds; it
also keeps running totals and token counts in a `RewardStats` for `train.json`.

Two token counts, because they answer different questions:

- `generated_tokens`, the compute the rollouts cost: a batched `generate` call decodes every row
  until the longest one ends, so a batch of n completions costs n x (longest completion) token
  positions; with fixed-length rollouts (`decode_length`) every batch decodes n x decode_length.
  This is what "compute-matched" compares across arms.
- `completion_tokens`, what the policy said: each completion up to and including its end token.
  It differs between arms when trait replies are longer than capability answers, which is a
  property of the data, not a difference in compute.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from traitrl import taxonomy
from traitrl.errors import UserError
from traitrl.graders.registry import GRADERS, GraderBackends, is_user_reward

Reward = float | None
RewardFn = Callable[..., list[Reward] | Awaitable[list[Reward]]]

ROUTER_NAME = "traitrl_reward"
METRIC_PREFIX = "reward_by"
# TRL hooks that address the whole batch; a grader sees only its rows, so they are not forwarded
_BATCH_HOOKS = ("log_extra",)


def row_groups(trait: str) -> tuple[str, str]:
    """The two groups a row's reward counts towards: its kind, and its trait or task kind."""
    if taxonomy.is_capability(trait):
        return "kind/capability", f"task/{trait}"
    return "kind/trait", f"trait/{trait}"


class RewardStats:
    """Running reward sums per group plus token and unscored counts, over the whole run.

    Thread-safe (TRL may call an async router on its own event-loop thread); `state()` / `load()`
    let a resumed run continue the totals from its checkpoint.
    """

    def __init__(self, decode_length: int | None = None) -> None:
        self.decode_length = decode_length  # set when every rollout batch decodes this many tokens
        self._lock = threading.Lock()
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.completions = 0
        self.unscored = 0
        self.generated_tokens = 0
        self.completion_tokens = 0
        self.reasons: Counter[str] = Counter()  # why rewards were unscored, "grader: reason"

    def record(self, traits: Sequence[str], rewards: Sequence[Reward], lengths: Sequence[int] = (),
               reasons: Sequence[str | None] = ()) -> None:
        """One generation batch: its rewards, its completions' token lengths (when known) and
        the reasons of its unscored rewards."""
        with self._lock:
            self.reasons.update(r for r, v in zip(reasons, rewards, strict=False) if v is None and r)
            self.completions += len(rewards)
            self.generated_tokens += len(lengths) * (self.decode_length or max(lengths, default=0))
            self.completion_tokens += sum(lengths)
            for t, r in zip(traits, rewards, strict=True):
                if r is None:
                    self.unscored += 1
                    continue
                for g in ("all", *row_groups(t)):
                    self.sums[g] += r
                    self.counts[g] += 1

    def means(self) -> dict[str, float]:
        with self._lock:
            return {g: self.sums[g] / n for g, n in sorted(self.counts.items()) if n}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"sums": dict(self.sums), "counts": dict(self.counts), "completions": self.completions,
                    "unscored": self.unscored, "generated_tokens": self.generated_tokens,
                    "completion_tokens": self.completion_tokens, "reasons": dict(self.reasons)}

    def load(self, state: Mapping[str, Any]) -> None:
        with self._lock:
            self.sums = defaultdict(float, state.get("sums", {}))
            self.counts = defaultdict(int, state.get("counts", {}))
            self.completions = int(state.get("completions", 0))
            self.unscored = int(state.get("unscored", 0))
            self.generated_tokens = int(state.get("generated_tokens", 0))
            self.completion_tokens = int(state.get("completion_tokens", 0))
            self.reasons = Counter(state.get("reasons", {}))

    def unscored_rate(self) -> float | None:
        with self._lock:
            return self.unscored / self.completions if self.completions else None

    def top_reasons(self, n: int = 3) -> list[tuple[str, int]]:
        with self._lock:
            return self.reasons.most_common(n)


def batch_metrics(traits: Sequence[str], rewards: Sequence[Reward]) -> dict[str, float]:
    """Mean reward per group in one batch (unscored rows left out) and the unscored share."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for t, r in zip(traits, rewards, strict=True):
        if r is None:
            continue
        for g in row_groups(t):
            sums[g] += r
            counts[g] += 1
    out = {f"{METRIC_PREFIX}/{g}": sums[g] / counts[g] for g in sorted(counts)}
    out[f"{METRIC_PREFIX}/unscored_frac"] = sum(r is None for r in rewards) / max(1, len(rewards))
    return out


class RewardRouter:
    """A TRL reward function that sends each row to the grader its `grader` column names."""

    def __init__(self, graders: Mapping[str, RewardFn], stats: RewardStats | None = None) -> None:
        if not graders:
            raise ValueError("a router needs at least one grader")
        self.graders = dict(graders)
        self.stats = stats if stats is not None else RewardStats()
        self.__name__ = ROUTER_NAME  # TRL names reward functions by __name__ in its logs

    def check(self, names: Iterable[str]) -> None:
        """Refuse, before any training, data whose rows name a grader this router does not have."""
        missing = sorted(set(names) - set(self.graders))
        if missing:
            judged = [n for n in missing if n in GRADERS and (GRADERS[n].needs_judge or GRADERS[n].judged_on_given_policy)]
            hint = f" (configure a `judge:` section to grade {', '.join(judged)} rows)" if judged else ""
            raise UserError(f"no grader for rows graded by {missing}{hint}; available: {', '.join(sorted(self.graders))}")

    # -- the pieces both the sync and the async router use ------------------------------------------
    def _plan(self, n: int, grader: Sequence[str] | None) -> dict[str, list[int]]:
        if grader is None or len(grader) != n:
            raise ValueError(f"{ROUTER_NAME}: every row needs a `grader` column value (got {grader!r:.80})")
        plan: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(grader):
            plan[name].append(i)
        self.check(plan)
        return plan

    @staticmethod
    def _subset(idx: list[int], n: int, prompts: Sequence[Any], completions: Sequence[Any],
                columns: Mapping[str, Any]) -> dict[str, Any]:
        whole = len(idx) == n
        sub: dict[str, Any] = {
            "prompts": prompts if whole else [prompts[i] for i in idx],
            "completions": completions if whole else [completions[i] for i in idx],
        }
        for key, value in columns.items():
            if key in _BATCH_HOOKS:
                continue
            if isinstance(value, list | tuple) and len(value) == n:
                sub[key] = value if whole else [value[i] for i in idx]
            else:
                sub[key] = value
        return sub

    def _grade(self, name: str, sub: dict[str, Any]) -> Any:
        """A grader's `grades` (Grade records, whose reasons say why a row is unscored) when it has
        one, else its TRL reward call (plain numbers)."""
        fn = self.graders[name]
        return getattr(fn, "grades", fn)(**sub)

    def _place(self, name: str, idx: list[int], got: Sequence[Any], out: list[Reward], why: list[str | None]) -> None:
        n = len(got) if hasattr(got, "__len__") else type(got).__name__
        if n != len(idx):
            raise ValueError(f"grader {name!r} returned {n} rewards for {len(idx)} rows")
        for i, r in zip(idx, got, strict=True):
            reason = getattr(r, "reason", None) or "returned None"
            r = getattr(r, "value", r)
            if r is not None and not math.isfinite(float(r)):
                r, reason = None, "not a finite number"  # a NaN or inf is not a score
            out[i] = None if r is None else float(r)
            why[i] = None if r is not None else f"{name}: {reason}"

    def _finish(self, rewards: list[Reward], columns: Mapping[str, Any], why: Sequence[str | None] = ()) -> list[Reward]:
        traits = columns.get("trait") or ["unknown"] * len(rewards)
        ids = columns.get("completion_ids")  # TRL's token ids, cut after the end token
        self.stats.record(traits, rewards, [len(c) for c in ids] if ids is not None else [], why)
        log_metric = columns.get("log_metric")
        if callable(log_metric):
            for name, value in batch_metrics(traits, rewards).items():
                log_metric(name, value)
        return rewards

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], grader: Sequence[str] | None = None,
                 **columns: Any) -> list[Reward]:
        n = len(completions)
        out: list[Reward] = [None] * n
        why: list[str | None] = [None] * n
        for name, idx in self._plan(n, grader).items():
            got = self._grade(name, self._subset(idx, n, prompts, completions, {**columns, "grader": grader}))
            if inspect.isawaitable(got):
                got = _run(got)
            self._place(name, idx, got, out, why)
        return self._finish(out, columns, why)


class AsyncRewardRouter(RewardRouter):
    """The router for grader sets with an async grader (the LLM judge): TRL awaits it on its own
    event loop; async graders run concurrently, synchronous ones inline."""

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], grader: Sequence[str] | None = None,
                       **columns: Any) -> list[Reward]:
        n = len(completions)
        out: list[Reward] = [None] * n
        why: list[str | None] = [None] * n
        pending = []
        for name, idx in self._plan(n, grader).items():
            got = self._grade(name, self._subset(idx, n, prompts, completions, {**columns, "grader": grader}))
            if inspect.isawaitable(got):
                pending.append((name, idx, got))
            else:
                self._place(name, idx, got, out, why)
        for (name, idx, _), got in zip(pending, await asyncio.gather(*(p[2] for p in pending)), strict=True):
            self._place(name, idx, got, out, why)
        return self._finish(out, columns, why)


def _run(awaitable: Awaitable[list[Reward]]) -> list[Reward]:
    async def wrap() -> list[Reward]:
        return await awaitable

    return asyncio.run(wrap())


def _is_async(fn: RewardFn) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


def make_router(world_grader: RewardFn, judge: RewardFn | None = None, stats: RewardStats | None = None,
                names: Iterable[str] = (), given_policy: bool = False) -> RewardRouter:
    """The router of the RL mix: every registered grader name (`traitrl.graders.registry`) whose
    backend is present, e.g. the world grader for "world" and "capability" rows, the verifiers, and
    the judge for "llm_judge" rows when there is one; plus the user rewards (`module:function`)
    among `names`, the grader names of the data, imported here. Async only when a grader is.
    `given_policy`: the policy is a given model, so "helpfulness" rows go to the judge's
    helpfulness scale (absent without a judge) instead of the world's signal."""
    from traitrl.graders.verifiers import load_user_reward

    backends = GraderBackends(world=world_grader, judge=judge, given_policy=given_policy)
    graders: dict[str, RewardFn] = {n: fn for n, spec in GRADERS.items() if (fn := spec.build(backends)) is not None}
    graders |= {n: load_user_reward(n) for n in sorted(set(names)) if is_user_reward(n)}
    cls = AsyncRewardRouter if any(_is_async(g) for g in graders.values()) else RewardRouter
    return cls(graders, stats)
