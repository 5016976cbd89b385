"""The one LoRA setup: `LoraOptions` (train.lora, persistence.finetune.lora) -> PEFT's `LoraConfig`.

GRPO training and the SFT fine-tuning attack both hand this to their TRL trainer as
`peft_config`, and both merge the trained adapter with `merge_adapter`, so a LoRA setting means
the same in either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traitrl.config import LoraOptions
from traitrl.errors import UserError

if TYPE_CHECKING:
    from peft import LoraConfig

ALL_LINEAR = "all-linear"


def lora_config(lo: LoraOptions) -> LoraConfig | None:
    """PEFT's config for `lo`, or None when LoRA is off (the trainer then trains every weight)."""
    if not lo.enabled:
        return None
    from peft import LoraConfig

    targets: str | list[str] = list(lo.target_modules)
    if ALL_LINEAR in targets:
        if len(targets) > 1:
            raise UserError(f"lora.target_modules: {ALL_LINEAR} already means every linear layer; give it alone "
                            f"(got {targets})")
        # PEFT takes it only as a bare string (every linear layer but the output head, any
        # architecture); inside a list it is a module name that matches nothing
        targets = ALL_LINEAR
    return LoraConfig(r=lo.r, lora_alpha=lo.alpha, lora_dropout=lo.dropout, target_modules=targets,
                      task_type="CAUSAL_LM")


def merge_adapter(model: Any) -> Any:
    """A PEFT model with its adapter merged into the base weights (a plain model); any other
    model as it is."""
    from peft import PeftModel

    return model.merge_and_unload() if isinstance(model, PeftModel) else model
