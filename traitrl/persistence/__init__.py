"""Persistence of alignment: adversarial persona prompting and a harmful fine-tuning attack.

`run_prompting` and `run_finetune` are the two experiments (DESIGN §1 item 6); each writes a
summary JSON plus one eval results file (with per-item records) per condition or dose. On a given
policy they run on the configured benchmarks (`BenchmarkSuite`): `run_benchmark_prompting` with
English persona files (`load_personas`), `run_finetune` with the user's attack file
(`read_attack_file`) and `benchmark_scoring`.
"""

from traitrl.persistence.attack_data import bad_advice_dataset, dataset_stats
from traitrl.persistence.attack_file import read_attack_file
from traitrl.persistence.benchmark_suite import BenchmarkSuite
from traitrl.persistence.common import ModelRef, model_refs
from traitrl.persistence.finetune import FinetuneSummary, benchmark_scoring, run_finetune
from traitrl.persistence.personas import Personas, load_personas
from traitrl.persistence.prompting import (
    CONDITIONS,
    PromptingSummary,
    run_benchmark_prompting,
    run_prompting,
)
from traitrl.persistence.stats import Delta, Estimate

__all__ = [
    "CONDITIONS",
    "BenchmarkSuite",
    "Personas",
    "benchmark_scoring",
    "load_personas",
    "read_attack_file",
    "run_benchmark_prompting",
    "Delta",
    "Estimate",
    "FinetuneSummary",
    "ModelRef",
    "PromptingSummary",
    "bad_advice_dataset",
    "dataset_stats",
    "model_refs",
    "run_finetune",
    "run_prompting",
]
