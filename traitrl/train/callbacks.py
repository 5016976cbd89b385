"""Trainer callbacks: the JSONL metrics log, dev scoring at checkpoints, resumable counters and a
rich progress bar. They hook into `transformers.Trainer` events; nothing here touches the RL math.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from traitrl.atomic import write_jsonl
from traitrl.errors import UserError
from traitrl.train.rewards import RewardStats

METRICS_FILE = "metrics.jsonl"


class MetricsLog:
    """Append-only JSONL of training logs (`"type": "train"`) and checkpoint scores (`"checkpoint"`).

    Each line is flushed and fsynced, so a killed run loses at most the line being written; a
    resumed run first drops what was logged after its checkpoint, so no step appears twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a killed run
        return out

    def truncate_after(self, step: int) -> None:
        write_jsonl(self.path, [r for r in self.rows() if r.get("step", 0) <= step])

    def append(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def checkpoints(self) -> list[dict[str, Any]]:
        return [r for r in self.rows() if r.get("type") == "checkpoint"]


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class TrainCounters(TrainerCallback, ExportableState):
    """Carries the router's running totals (generated tokens, reward sums) and the judge's counters
    in every checkpoint's `trainer_state.json`, written together with it, and restores them when a
    run resumes, so a resumed run's totals count the work before its restart too."""

    def __init__(self, stats: RewardStats | None = None, judge: Any = None) -> None:
        self.stats = stats if stats is not None else RewardStats()
        self.judge = judge  # an LLMJudge (its `stats()`), or None
        self.judge_before: dict[str, int] = {}  # the judge's counters up to the checkpoint resumed from

    def judge_totals(self) -> dict[str, int]:
        """The judge's counters over the whole run (numeric ones; rates are recomputed from them)."""
        now = {k: v for k, v in (self.judge.stats() if self.judge is not None else {}).items()
               if isinstance(v, int) and not isinstance(v, bool)}
        return {k: self.judge_before.get(k, 0) + now.get(k, 0) for k in sorted({*now, *self.judge_before})}

    def state(self) -> dict[str, Any]:
        return {"args": {}, "attributes": {"saved_stats": self.stats.state(), "saved_judge": self.judge_totals()}}

    def on_train_begin(self, args, state, control, **kwargs):
        saved = state.stateful_callbacks.get(type(self).__name__) if state.global_step else None
        if isinstance(saved, dict):
            attributes = saved.get("attributes", {})
            self.stats.load(attributes.get("saved_stats", {}))
            self.judge_before = dict(attributes.get("saved_judge", {}))


class UnscoredGuard(TrainerCallback):
    """Stops a run whose rewards are mostly unscored: after the first `steps` optimizer steps, an
    unscored share above `max_rate` is a UserError naming the share and the commonest reasons.
    Unscored rewards give no advantage, so such a run would train on almost nothing while looking
    healthy (loss and grad-norm 0, exit 0). Raised before that step's checkpoint is written, so a
    corrected rerun (other data, graders or threshold: another key) starts afresh."""

    def __init__(self, stats: RewardStats, max_rate: float, steps: int) -> None:
        self.stats = stats
        self.max_rate = max_rate
        self.steps = steps

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step != min(self.steps, state.max_steps) or self.max_rate >= 1:
            return
        unscored, completions = self._totals()
        if not completions or unscored / completions <= self.max_rate:
            return
        rate = unscored / completions
        reasons = "; ".join(f"{why!r} ({n})" for why, n in self.stats.top_reasons(3)) or "none recorded"
        raise UserError(
            f"train: {100 * rate:.0f} % of the rewards of the first {state.global_step} optimizer steps were unscored "
            f"({unscored} of {completions}; train.max_unscored_rate is {self.max_rate:g}). "
            f"Most common reasons: {reasons}. Unscored rewards give no gradient: use graders that fit the data "
            "(a verifier for its answers, a judge that replies), or raise train.max_unscored_rate.")


    def _totals(self) -> tuple[int, int]:
        """Unscored and all rewards so far, summed over the processes of a distributed run, so that
        every process takes the same decision (one stopping alone would leave the others waiting)."""
        from accelerate import PartialState

        local = (self.stats.unscored, self.stats.completions)
        if PartialState().num_processes == 1:
            return local
        from accelerate.utils import gather_object

        everyone = gather_object([local])
        return sum(u for u, _ in everyone), sum(n for _, n in everyone)


class CheckpointScorer(TrainerCallback):
    """Logs every train step to `metrics.jsonl`, and at step 0, at each checkpoint and at the last
    step scores dev.jsonl (the in-distribution trait score and capability reward)."""

    def __init__(self, log: MetricsLog, score: Callable[[Any], dict[str, Any]], stats: RewardStats,
                 on_score: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.log = log
        self.score = score
        self.stats = stats
        self.on_score = on_score

    def _scored_steps(self) -> set[int]:
        return {r["step"] for r in self.log.checkpoints()}

    def _checkpoint(self, state, model) -> None:
        if state.global_step in self._scored_steps():
            return
        row = {"type": "checkpoint", "step": state.global_step, "generated_tokens": self.stats.generated_tokens,
               "completion_tokens": self.stats.completion_tokens,
               "completions": self.stats.completions, **self.score(model)}
        self.log.append(row)
        if self.on_score:
            self.on_score(row)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.log.truncate_after(state.global_step)
        self._checkpoint(state, model)  # step 0, or a checkpoint whose score a kill interrupted

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = True  # the last step is always a checkpoint, so curves end there
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            kind = "summary" if "train_runtime" in logs else "train"
            self.log.append({"type": kind, "step": state.global_step,
                             **{k: _clean(v) for k, v in logs.items() if isinstance(v, int | float | None)}})

    def on_save(self, args, state, control, model=None, **kwargs):
        self._checkpoint(state, model)


class RichProgress(TrainerCallback):
    """One rich progress bar for the run: steps done, the latest batch reward and dev score."""

    def __init__(self, description: str) -> None:
        from traitrl.console import progress

        self.bar = progress()
        self.description = description
        self.task: Any = None
        self.reward: float | None = None
        self.dev: float | None = None

    def _text(self) -> str:
        parts = [self.description]
        if self.reward is not None:
            parts.append(f"reward {self.reward:.3f}")
        if self.dev is not None:
            parts.append(f"dev trait {100 * self.dev:.1f}")
        return " | ".join(parts)

    def on_checkpoint_score(self, row: dict[str, Any]) -> None:
        self.dev = row.get("dev_trait_score")
        if self.task is not None:
            self.bar.update(self.task, description=self._text())

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar.start()
        self.task = self.bar.add_task(self._text(), total=state.max_steps, completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(self.task, completed=state.global_step, description=self._text())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and logs.get("reward") is not None:
            self.reward = float(logs["reward"])

    def close(self) -> None:
        self.bar.stop()
