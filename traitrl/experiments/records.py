"""The typed results that pass between stages. Paths are relative to the run folder."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from traitrl.experiments.stage import StageResult
from traitrl.persistence.finetune import FinetuneSummary
from traitrl.persistence.prompting import PromptingSummary
from traitrl.train.record import DevCurve, JudgeStats


class ScenariosResult(StageResult):
    dir: str = Field(description="folder holding train.jsonl and dev.jsonl")
    counts: dict[str, int] = Field(description="rows per split")


class ModelResult(StageResult):
    """Anything that is a model folder a later stage can load."""

    name: str = Field(description="the model's name in results (base, trait, trait@30, ...)")
    path: str = Field(description="Hugging Face model folder")


class BaseResult(ModelResult):
    source: Literal["organism", "given"] = Field(description="built here from the world, or policy.model")


class ArmResult(ModelResult):
    """One trained arm: its identity (arm, seed), its compute, its outcome."""

    arm: str
    seed: int = Field(description="the RL seed (train.seed of this replicate)")
    optimizer_steps: int
    generated_tokens: int
    completion_tokens: int
    trait_fraction: float
    trait_domains: list[str] = Field(description="domains of the trait rows this arm trained on")
    final_rewards: dict[str, float]
    unscored_rate: float | None
    curve: DevCurve
    wall_s: float
    fixed_length_rollouts: bool | None = Field(None, description="every rollout batch decoded max_completion_length tokens")
    judge: JudgeStats | None = Field(None, description="the LLM judge's requests, cache hits, failures and tokens in training")

    def checkpoint(self, step: int) -> ModelResult:
        """The arm's checkpoint after `step` optimizer steps, as a model a stage can evaluate."""
        from pathlib import PurePosixPath

        arm_dir = PurePosixPath(self.path).parent
        return ModelResult(name=f"{self.name}@{step}", path=str(arm_dir / "checkpoints" / f"checkpoint-{step}"),
                           key=f"{self.key}@{step}")


class EvalRun(StageResult):
    """The held-out suite (and benchmark files) on one model under one persona condition."""

    model: str
    persona: str
    file: str = Field(description="eval results JSON with per-item records")
    pooled: float | None = Field(description="mean aligned score over every scored item")


class PromptingResult(StageResult):
    dir: str
    summary: PromptingSummary


class FinetuneResult(StageResult):
    dir: str
    summary: FinetuneSummary


class ReportResult(StageResult):
    results: str
    report: str
