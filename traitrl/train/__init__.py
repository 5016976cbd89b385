"""Trait RL: the data mix, reward routing, the arms, and GRPO training through TRL.

Importing this package is cheap: its names load on first use (torch, transformers and TRL load
when training starts), so light modules such as `traitrl.train.arms` import without the rest."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ARMS": "arms",
    "PAPER_ARMS": "arms",
    "arm_config": "arms",
    "grpo_args": "grpo",
    "last_checkpoint": "grpo",
    "train": "grpo",
    "Mix": "mix",
    "build_mix": "mix",
    "AsyncRewardRouter": "rewards",
    "RewardRouter": "rewards",
    "RewardStats": "rewards",
    "make_router": "rewards",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
