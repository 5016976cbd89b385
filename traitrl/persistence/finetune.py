"""Harmful fine-tuning: how far does each model's alignment fall under a bad-medical-advice attack?

The paper fine-tunes its models on inaccurate medical advice and finds that the trait-RL model
degrades less than a no-RL base, especially on *non-health* alignment evals. Here each model is
fine-tuned on the same attack data (`attack_data`), with the same doses (`sft`), and after each
dose the suite is scored on the same items, split into the health evals (`"health" in domains`)
and the rest. Reported per model and dose: the pooled health and non-health scores with CIs and
their paired change since dose 0; between every pair of models in the order given (e.g. base,
baseline, trait), the difference in the drop at the largest dose (later - earlier; negative = the
later model held up better).

Layout of `out`: `attack_dataset.jsonl`, `finetune.json` (the summary), and per model
`NAME/train/` (Trainer checkpoints, one per dose) and `NAME/dose-K.json` (eval results with
per-item records). Every piece is cached by a key of what made it, so a rerun resumes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from traitrl.atomic import write_json, write_jsonl
from traitrl.config import Config
from traitrl.evals.results import EvalResults
from traitrl.models.loader import load_policy
from traitrl.persistence.attack_data import bad_advice_dataset, dataset_stats
from traitrl.persistence.attack_file import file_stats
from traitrl.persistence.benchmark_suite import BenchmarkSuite, ModelFolder
from traitrl.persistence.common import (
    LazyPolicy,
    ModelRef,
    TaskFactory,
    cached_evaluate,
    fingerprint,
    key_of,
    n_prompts,
    no_progress,
    suite_specs,
    with_items,
)
from traitrl.persistence.sft import dose_source, prepare_train_dir, record_training, train_doses
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

FINETUNE_SCHEMA_VERSION = 1
SUMMARY_FILE = "finetune.json"
DATASET_FILE = "attack_dataset.jsonl"
SUBSETS = ("health", "non_health")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DosePoint(_Record):
    dose: int
    scores: dict[str, Estimate] = Field(description="health / non_health -> pooled score after this dose")
    change: dict[str, Delta] = Field(description="health / non_health -> score now - score at dose 0 (paired)")
    unscored: dict[str, int] = Field(description="health / non_health -> items the grader could not score (not zeros)")
    file: str = Field(description="eval results with per-item records (relative to the summary)")


class ModelFinetune(_Record):
    name: str
    path: str
    points: list[DosePoint]
    train: dict[str, Any] = Field(description="steps trained, train_s (finished calls), loss [step, loss]")


class FinetuneComparison(_Record):
    """`model` minus `reference` at the largest dose: negative = `model` lost less."""

    reference: str
    model: str
    dose: int
    drop_difference: dict[str, Delta] = Field(description="health / non_health -> drop(model) - drop(reference)")


class FinetuneSummary(_Record):
    schema_version: int = FINETUNE_SCHEMA_VERSION
    doses: list[int]
    dose_unit: str = "optimizer steps"
    mode: str = Field(description="full or lora")
    dataset: dict[str, Any]
    evals: dict[str, list[str]] = Field(description="health / non_health -> eval ids")
    n_items: int
    n_boot: int
    models: dict[str, ModelFinetune]
    comparisons: list[FinetuneComparison]
    seconds: float | None = None

    def for_run_results(self) -> dict[str, Any]:
        """The `persistence.finetuning` section of a run's results.json."""
        return {
            "doses": self.doses, "dose_unit": self.dose_unit,
            "models": {name: {sub: [p.scores[sub].model_dump() for p in m.points] for sub in SUBSETS}
                       for name, m in self.models.items()},
        }


def dose_file(out: Path, model: str, dose: int) -> Path:
    return out / model / f"dose-{dose}.json"


def _subset_items(results: EvalResults, ids: dict[str, list[str]]) -> dict[str, ItemScores]:
    return {sub: pooled_items(results, ids[sub]) for sub in SUBSETS}


def _curve(ref: ModelRef, by_dose: dict[int, EvalResults], ids: dict[str, list[str]], out: Path,
           n_boot: int, seed: int) -> list[DosePoint]:
    start = _subset_items(by_dose[0], ids)
    points = []
    for dose, results in by_dose.items():
        now = _subset_items(results, ids)
        points.append(DosePoint(
            dose=dose,
            scores={s: estimate(now[s], n_boot, seed, f"{dose}:{s}") for s in SUBSETS},
            change={s: paired_change(start[s], now[s], n_boot, seed, f"{dose}:{s}:change") for s in SUBSETS},
            unscored={s: sum(e.unscored for e in results.evals if e.id in ids[s]) for s in SUBSETS},
            file=str(dose_file(out, ref.name, dose).relative_to(out)),
        ))
    return points


def _drops(by_dose: dict[int, EvalResults], ids: dict[str, list[str]]) -> dict[str, ItemScores]:
    """Per-item drop from dose 0 to the largest dose (positive = lost alignment)."""
    first, last = _subset_items(by_dose[min(by_dose)], ids), _subset_items(by_dose[max(by_dose)], ids)
    return {s: negate(item_changes(first[s], last[s])) for s in SUBSETS}


@dataclass(frozen=True)
class Scoring:
    """How each dose is scored: the eval ids of the health and non-health subsets, prompts per
    dose (for progress), a key of what decides the items, and the cached evaluation itself
    (policy, name, results file, key, progress, the dose as a model folder for external tasks)."""

    ids: dict[str, list[str]]
    per_dose: int
    n_items: int
    suite_key: Any
    evaluate: Callable[[LazyPolicy, str, Path, str, Callable[[int], None], ModelFolder], EvalResults]


def world_scoring(cfg: Config) -> Scoring:
    """The organism's held-out suite (persistence.finetune ids / families), health by domain."""
    fc = cfg.persistence.finetune
    specs = suite_specs(cfg, fc.ids, fc.families)
    return Scoring(
        ids={"health": [s.id for s in specs if "health" in s.domains],
             "non_health": [s.id for s in specs if "health" not in s.domains]},
        per_dose=n_prompts(specs, cfg.evals.n_items),
        n_items=cfg.evals.n_items,
        suite_key=(cfg.hash("world", "evals"), [s.id for s in specs]),
        evaluate=lambda policy, name, path, key, advance, folder: cached_evaluate(policy, cfg, name, "none", specs,
                                                                                 path, key, advance),
    )


def benchmark_scoring(suite: BenchmarkSuite) -> Scoring:
    """The configured benchmarks (a given policy), health as `evals.health_benchmarks` says."""
    health = suite.health_ids()
    return Scoring(
        ids={"health": health, "non_health": [i for i in suite.ids if i not in health]},
        per_dose=suite.n_prompts(),
        n_items=suite.largest(),
        suite_key=suite.key(),
        evaluate=lambda policy, name, path, key, advance, folder: suite.evaluate(
            policy, name, lambda item_id: None, path, key, advance, folder=folder),
    )


def run_finetune(models: list[ModelRef], config: Config, out: Path, task: TaskFactory = no_progress,
                 key: str = "", scoring: Scoring | None = None, rows: list[dict] | None = None) -> FinetuneSummary:
    """Attack every model with the same data and doses, score each dose, write results into `out`.
    `key` (the stage's derived key) salts the training and evaluation cache keys. `scoring`
    (default: the world suite) and `rows` (default: the world's bad-advice data) are what a given
    policy replaces: its benchmarks, and the user's attack file."""
    t0 = time.perf_counter()
    fc = config.persistence.finetune
    n_boot, seed = config.persistence.n_boot, config.persistence.seed
    cfg = with_items(config, fc.n_items)
    scoring = scoring or world_scoring(cfg)
    ids = scoring.ids
    if rows is None:
        rows = bad_advice_dataset(cfg)
        data_key = key_of([r["prompt_key"] for r in rows], [r["completion"] for r in rows])
        stats = dataset_stats(rows)
    else:
        data_key = key_of([r["prompt"] for r in rows], [r["completion"] for r in rows])
        stats = file_stats(rows)
    write_jsonl(out / DATASET_FILE, rows)
    train_settings = fc.model_dump(mode="json", exclude={"n_items", "ids", "families", "file", "file_sha256"})
    summaries: dict[str, ModelFinetune] = {}
    results: dict[str, dict[int, EvalResults]] = {}
    for ref in models:
        train_dir = out / ref.name / "train"
        train_key = key_of("finetune-train", key, fingerprint(ref.path), data_key, train_settings)
        prepare_train_dir(train_dir, train_key)
        advance = task(f"{ref.name}: fine-tune", fc.doses[-1])
        trained = record_training(train_dir, fc.doses, train_doses(ref.path, rows, fc, train_dir, advance, config.policy,
                                                                 config.persistence.threads))
        results[ref.name] = {}
        for dose in fc.doses:
            policy = _dose_policy(ref, train_dir, dose, cfg)
            results[ref.name][dose] = scoring.evaluate(
                policy, f"{ref.name}@{dose}", dose_file(out, ref.name, dose),
                key_of("finetune-eval", train_key, dose, scoring.suite_key), task(f"{ref.name}: dose {dose}",
                                                                                  scoring.per_dose),
                _dose_folder(ref, train_dir, dose, policy))
        summaries[ref.name] = ModelFinetune(name=ref.name, path=str(ref.path), train=trained,
                                            points=_curve(ref, results[ref.name], ids, out, n_boot, seed))
    comparisons = []
    for ref, other in combinations(models, 2):
        paired = same_items(results[ref.name][0], results[other.name][0])
        a, b = _drops(results[ref.name], ids), _drops(results[other.name], ids)
        comparisons.append(FinetuneComparison(
            reference=ref.name, model=other.name, dose=fc.doses[-1],
            drop_difference={s: difference(a[s], b[s], paired, n_boot, seed, f"{ref.name}:{other.name}:ft:{s}")
                             for s in SUBSETS},
        ))
    summary = FinetuneSummary(
        doses=fc.doses, mode="lora" if fc.lora.enabled else "full", dataset=stats, evals=ids,
        n_items=scoring.n_items, n_boot=n_boot,
        models=summaries, comparisons=comparisons, seconds=round(time.perf_counter() - t0, 2),
    )
    write_json(out / SUMMARY_FILE, summary.model_dump(mode="json"))
    return summary


def _dose_folder(ref: ModelRef, train_dir: Path, dose: int, policy: LazyPolicy) -> ModelFolder:
    """The model after `dose` steps as a plain Hugging Face folder, for external (inspect) tasks:
    the model itself at dose 0; a later dose (a Trainer checkpoint, a LoRA adapter merged by the
    loader) saved from the loaded policy into a temporary folder in `train_dir`, removed after."""

    @contextmanager
    def folder() -> Iterator[Path]:
        if dose == 0:
            yield ref.path
            return
        loaded = policy()
        with tempfile.TemporaryDirectory(prefix=f"dose-{dose}-model-", dir=train_dir) as tmp:
            loaded.model.save_pretrained(tmp)
            loaded.tokenizer.save_pretrained(tmp)
            yield Path(tmp)

    return folder


def _dose_policy(ref: ModelRef, train_dir: Path, dose: int, config: Config) -> LazyPolicy:
    """The model after `dose` steps, loaded lazily through the one loader (`policy:` applies)."""
    path, base = dose_source(ref.path, train_dir, dose)
    return LazyPolicy(lambda: load_policy(path, config, base=base, threads=config.persistence.threads))
