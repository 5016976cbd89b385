"""Persistence of alignment: adversarial persona prompting and a harmful fine-tuning attack.

`run_prompting` and `run_finetune` are the two experiments (DESIGN §1 item 6); each writes a
summary JSON plus one eval results file (with per-item records) per condition or dose.
"""

from traitrl.persistence.attack_data import bad_advice_dataset, dataset_stats
from traitrl.persistence.common import ModelRef, model_refs
from traitrl.persistence.finetune import FinetuneSummary, run_finetune
from traitrl.persistence.prompting import CONDITIONS, PromptingSummary, run_prompting
from traitrl.persistence.stats import Delta, Estimate

__all__ = [
    "CONDITIONS",
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
