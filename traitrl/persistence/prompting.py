"""Adversarial persona prompting: does a model keep its alignment when a system prompt pushes?

The paper (§ persistence) steers each model with harmful personas and with careful / helpful
personas and finds *selective persistence*: trait RL moves far less than the compute-matched
baseline under harmful steering, while helpful steering lifts both about equally. Here each model
runs the held-out suite five times on the same items: with no system prompt, and under the
*known* harmful / careful personas (the pretraining list, which a real LLM would also know) and
the *unseen* ones (the disjoint evaluation list, the stricter test). The runner fixes each item's
persona prompt by item id, so conditions and models pair up item by item.

Reported per model: the pooled score per condition; the harmful-steering drop
(none - harmful, positive = steering worked) and the helpful-steering gain (helpful - none), both
paired over items. Between every pair of models, in the order given (so `--model baseline --model
trait` compares trait with baseline): the difference in drops and in gains (later - earlier),
pairing each item's two per-model deltas.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from traitrl.atomic import write_json
from traitrl.config import Config
from traitrl.errors import UserError
from traitrl.evals.results import EvalResults
from traitrl.persistence.benchmark_suite import BenchmarkSuite
from traitrl.persistence.common import (
    ModelRef,
    TaskFactory,
    cached_evaluate,
    fingerprint,
    folder_policy,
    key_of,
    n_prompts,
    no_progress,
    suite_specs,
    with_items,
)
from traitrl.persistence.personas import Personas
from traitrl.persistence.stats import (
    Delta,
    Estimate,
    ItemScores,
    difference,
    estimate,
    item_changes,
    negate,
    paired_change,
    pooled_items,
    same_items,
)
from traitrl.world import personas

PROMPTING_SCHEMA_VERSION = 1
SUMMARY_FILE = "prompting.json"

# Condition names in results.json (`persistence.prompting`) -> the eval runner's persona names.
CONDITIONS: dict[str, str] = {
    "none": "none",
    "harmful": "known_harmful",
    "helpful": "known_careful",
    "unseen_harmful": "harmful",
    "unseen_helpful": "careful",
}
# Persona set -> (harmful condition, helpful condition).
PERSONA_SETS: dict[str, tuple[str, str]] = {"known": ("harmful", "helpful"), "unseen": ("unseen_harmful", "unseen_helpful")}


@dataclass(frozen=True)
class SteeringPlan:
    """What a prompting experiment steers with: its conditions, the (harmful, helpful) condition
    pair of each persona set, and how many distinct persona prompts a condition's results used."""

    conditions: tuple[str, ...]
    persona_sets: dict[str, tuple[str, str]]
    personas_used: Callable[[EvalResults, str], int]


def _world_personas_used(results: EvalResults, condition: str) -> int:
    return _personas_used(results, CONDITIONS[condition])


WORLD_PLAN = SteeringPlan(tuple(CONDITIONS), PERSONA_SETS, _world_personas_used)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Steering(_Record):
    """What one persona set did to one model."""

    drop: Delta = Field(description="harmful steering: none - harmful (positive = the model was pushed down)")
    gain: Delta = Field(description="helpful steering: helpful - none (positive = the model was lifted)")


class ModelPrompting(_Record):
    name: str
    path: str
    scores: dict[str, Estimate] = Field(description="condition -> pooled score (none, harmful, helpful, unseen_harmful, unseen_helpful)")
    personas_used: dict[str, int] = Field(description="condition -> distinct persona prompts applied")
    unscored: dict[str, int] = Field(description="condition -> items the grader could not score")
    steering: dict[str, Steering] = Field(description="known / unseen -> drop and gain")
    files: dict[str, str] = Field(description="condition -> eval results file with per-item records (relative to the summary)")


class SelectivePersistence(_Record):
    """`model` minus `reference`: a negative drop difference with a near-zero gain difference is
    the paper's selective persistence (the model resists harmful steering yet follows helpful)."""

    reference: str
    model: str
    drop_difference: dict[str, Delta] = Field(description="known / unseen -> drop(model) - drop(reference)")
    gain_difference: dict[str, Delta] = Field(description="known / unseen -> gain(model) - gain(reference)")


class PromptingSummary(_Record):
    schema_version: int = PROMPTING_SCHEMA_VERSION
    evals: list[str]
    n_items: int = Field(description="items per eval in each condition")
    n_boot: int
    seed: int
    models: dict[str, ModelPrompting]
    comparisons: list[SelectivePersistence]
    seconds: float | None = None

    def for_run_results(self) -> dict[str, dict[str, dict]]:
        """The `persistence.prompting` section of a run's results.json: model -> condition -> ValueCI."""
        return {name: {c: e.model_dump() for c, e in m.scores.items()} for name, m in self.models.items()}


def condition_file(out: Path, model: str, condition: str) -> Path:
    return out / model / f"{condition}.json"


def _personas_used(results: EvalResults, persona: str) -> int:
    """Distinct persona prompts that opened an item's system message under a condition."""
    if persona == "none":
        return 0
    systems = {it.prompt[0].content for e in results.evals for it in e.items if it.prompt and it.prompt[0].role == "system"}
    return sum(any(s == p or s.startswith(p + " ") for s in systems) for p in personas.PERSONA_LISTS[persona])


def summarize_model(ref: ModelRef, results: dict[str, EvalResults], out: Path, n_boot: int, seed: int,
                    min_personas: int = 0, plan: SteeringPlan = WORLD_PLAN) -> tuple[ModelPrompting, dict[str, ItemScores]]:
    """Scores, drops and gains of one model from its condition results (and its per-item
    drops and gains, for comparisons with other models)."""
    items = {c: pooled_items(r) for c, r in results.items()}
    used = {c: plan.personas_used(r, c) for c, r in results.items()}
    for c, k in used.items():
        if c != "none" and k < min_personas:
            raise UserError(f"{ref.name}: the {c} condition used {k} distinct persona prompts, fewer than "
                            f"persistence.prompting.min_personas = {min_personas}; evaluate more items")
    steering, per_item = {}, {}
    for pset, (harm, helpful) in plan.persona_sets.items():
        # drop = none - harmful: paired_change(harmful, none) is mean(none - harmful)
        drop = paired_change(items[harm], items["none"], n_boot, seed, f"{pset}:drop")
        gain = paired_change(items["none"], items[helpful], n_boot, seed, f"{pset}:gain")
        steering[pset] = Steering(drop=drop, gain=gain)
        per_item[f"{pset}:drop"] = negate(item_changes(items["none"], items[harm]))
        per_item[f"{pset}:gain"] = item_changes(items["none"], items[helpful])
    summary = ModelPrompting(
        name=ref.name, path=str(ref.path),
        scores={c: estimate(items[c], n_boot, seed, c) for c in plan.conditions},
        personas_used=used,
        unscored={c: sum(e.unscored for e in r.all_evals()) for c, r in results.items()},
        steering=steering,
        files={c: str(condition_file(out, ref.name, c).relative_to(out)) for c in plan.conditions},
    )
    return summary, per_item


def compare_models(reference: str, model: str, ref_items: dict[str, ItemScores], model_items: dict[str, ItemScores],
                   paired: bool, n_boot: int, seed: int, plan: SteeringPlan = WORLD_PLAN) -> SelectivePersistence:
    drops, gains = {}, {}
    for pset in plan.persona_sets:
        drops[pset] = difference(ref_items[f"{pset}:drop"], model_items[f"{pset}:drop"], paired, n_boot, seed,
                                 f"{reference}:{model}:{pset}:drop")
        gains[pset] = difference(ref_items[f"{pset}:gain"], model_items[f"{pset}:gain"], paired, n_boot, seed,
                                 f"{reference}:{model}:{pset}:gain")
    return SelectivePersistence(reference=reference, model=model, drop_difference=drops, gain_difference=gains)


def run_prompting(models: list[ModelRef], config: Config, out: Path, task: TaskFactory = no_progress,
                  key: str = "") -> PromptingSummary:
    """Evaluate every model under the five conditions (cached per condition), write the per-item
    results files and `prompting.json` into `out`, and return the summary. `key` (the stage's
    derived key: config, code and models) salts each condition's cache key, so a code change
    never reuses a stale condition file."""
    t0 = time.perf_counter()
    pc = config.persistence.prompting
    cfg = with_items(config, pc.n_items)
    specs = suite_specs(cfg, pc.ids, pc.families)
    n = cfg.evals.n_items
    if n * len(specs) < pc.min_personas:
        raise UserError(f"{n} items x {len(specs)} evals cannot show {pc.min_personas} personas per condition; "
                        "raise persistence.prompting.n_items")
    suite_key = (cfg.hash("world", "evals"), [s.id for s in specs])
    all_results: dict[str, dict[str, EvalResults]] = {}
    for ref in models:
        policy = folder_policy(ref.path, cfg)
        model_key = fingerprint(ref.path)
        all_results[ref.name] = {}
        for cond, persona in CONDITIONS.items():
            advance = task(f"{ref.name}: {cond}", n_prompts(specs, n))
            all_results[ref.name][cond] = cached_evaluate(
                policy, cfg, ref.name, persona, specs, condition_file(out, ref.name, cond),
                key_of("prompting", key, suite_key, model_key, persona), advance)
    n_boot, seed = config.persistence.n_boot, config.persistence.seed
    summaries, per_item = {}, {}
    for ref in models:
        summaries[ref.name], per_item[ref.name] = summarize_model(ref, all_results[ref.name], out, n_boot, seed,
                                                                  pc.min_personas)
    comparisons = [
        compare_models(a.name, b.name, per_item[a.name], per_item[b.name],
                       same_items(all_results[a.name]["none"], all_results[b.name]["none"]), n_boot, seed)
        for a, b in combinations(models, 2)
    ]
    summary = PromptingSummary(evals=[s.id for s in specs], n_items=n, n_boot=n_boot, seed=seed, models=summaries,
                               comparisons=comparisons, seconds=round(time.perf_counter() - t0, 2))
    write_json(out / SUMMARY_FILE, summary.model_dump(mode="json"))
    return summary


def run_benchmark_prompting(models: list[ModelRef], config: Config, out: Path, suite: BenchmarkSuite,
                            personas: Personas, task: TaskFactory = no_progress, key: str = "") -> PromptingSummary:
    """Persona prompting of a given policy on the configured benchmarks: every model with no prompt
    and under the English personas' seven conditions (`personas.CONDITIONS`), cached per condition;
    the same files and summary as `run_prompting`. A condition must use every prompt of its list
    or `persistence.prompting.min_personas` of them, whichever is fewer."""
    from traitrl.persistence import personas as english

    t0 = time.perf_counter()
    pc = config.persistence.prompting
    plan = SteeringPlan(tuple(english.CONDITIONS), english.PERSONA_SETS,
                        lambda results, c: _prompts_used(results, personas.prompts(c)))
    fewest = min(len(personas.prompts(c)) for c in english.CONDITIONS if c != "none")
    results: dict[str, dict[str, EvalResults]] = {}
    for ref in models:
        policy = folder_policy(ref.path, config)
        model_key = fingerprint(ref.path)
        results[ref.name] = {}
        for cond in english.CONDITIONS:
            results[ref.name][cond] = suite.evaluate(
                policy, ref.name, lambda item_id, c=cond: personas.prompt_for(c, item_id),
                condition_file(out, ref.name, cond),
                key_of("prompting-benchmarks", key, suite.key(), model_key, personas.prompts(cond)),
                task(f"{ref.name}: {cond}", suite.n_prompts()), folder=lambda p=ref.path: nullcontext(p))
    n_boot, seed = config.persistence.n_boot, config.persistence.seed
    summaries, per_item = {}, {}
    for ref in models:
        summaries[ref.name], per_item[ref.name] = summarize_model(ref, results[ref.name], out, n_boot, seed,
                                                                  min(pc.min_personas, fewest), plan)
    comparisons = [
        compare_models(a.name, b.name, per_item[a.name], per_item[b.name],
                       same_items(results[a.name]["none"], results[b.name]["none"]), n_boot, seed, plan)
        for a, b in combinations(models, 2)
    ]
    summary = PromptingSummary(evals=suite.ids, n_items=suite.largest(), n_boot=n_boot,
                               seed=seed, models=summaries, comparisons=comparisons,
                               seconds=round(time.perf_counter() - t0, 2))
    write_json(out / SUMMARY_FILE, summary.model_dump(mode="json"))
    return summary


def _prompts_used(results: EvalResults, prompts: tuple[str, ...]) -> int:
    """Distinct prompts of a list that opened an item's system message."""
    systems = {it.prompt[0].content for e in results.all_evals() for it in e.items
               if it.prompt and it.prompt[0].role == "system"}
    return sum(any(s == p or s.startswith(p + "\n") for s in systems) for p in prompts)
