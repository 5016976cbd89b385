"""Policies in Hugging Face format: the organism's tokenizer and tiny Llama, pretraining, the
cached build, the one policy loader, the one LoRA setup, and batched generation helpers.

Names are exported lazily (PEP 562): importing `traitrl.models.loader` for `Policy` does not
pull in torch, which the command line would otherwise pay for at every start.
"""

# OMP_WAIT_POLICY is set in traitrl/__init__.py, before torch is first imported.
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_hash": "build", "build_organism": "build", "read_build": "build",
    "continuation_logprobs": "generation", "generate": "generation", "option_logprobs": "generation",
    "count_parameters": "organism", "new_model": "organism", "save_model": "organism",
    "Policy": "loader", "load_model": "loader", "load_policy": "loader", "resolve_device": "loader",
    "lora_config": "lora", "merge_adapter": "lora",
    "CHAT_TEMPLATE": "tokenizer", "train_tokenizer": "tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
