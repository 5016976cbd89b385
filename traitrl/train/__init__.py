"""Trait RL: the data mix, reward routing, the arms, and GRPO training through TRL.

Importing this package is cheap (torch, transformers and TRL load when training starts)."""

from traitrl.train.arms import ARMS, PAPER_ARMS, arm_config
from traitrl.train.grpo import grpo_args, last_checkpoint, train
from traitrl.train.mix import Mix, build_mix
from traitrl.train.rewards import AsyncRewardRouter, RewardRouter, RewardStats, make_router

__all__ = [
    "ARMS",
    "PAPER_ARMS",
    "AsyncRewardRouter",
    "Mix",
    "RewardRouter",
    "RewardStats",
    "arm_config",
    "build_mix",
    "grpo_args",
    "last_checkpoint",
    "make_router",
    "train",
]
