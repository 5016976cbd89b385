"""Training under `accelerate launch` (DDP, DeepSpeed ZeRO-3, FSDP): which process does what.

`traitrl train` runs once per process. TRL and accelerate share out the RL step itself; what
traitrl adds around it must not be done N times at once: the main process checks the run folder,
writes the inputs, logs metrics, scores dev.jsonl and writes the result; the others wait at
barriers. The final model is saved with `Trainer.save_model`, which every process must call so
that ZeRO-3 and FSDP can gather their shards. In a single process all of this reduces to the
plain path (barriers are no-ops).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from traitrl.config import PolicyConfig, TrainConfig


def process_state(policy: PolicyConfig | None = None):
    """accelerate's view of this process. Built with the device choice of `grpo_args` (`use_cpu`
    unless `policy.device` resolves to CUDA), so a CPU job under torchrun is a real multi-process
    job too."""
    from accelerate import PartialState

    from traitrl.models.loader import uses_cuda

    return PartialState(cpu=not uses_cuda(policy))


def is_sharded(state: Any) -> bool:
    """ZeRO-3 / FSDP hold a shard of each weight per process: generating on one process alone
    (dev scoring) would wait forever for the others, so dev scoring is off there."""
    from accelerate.utils import DistributedType

    return state.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


class LastStepSave(TrainerCallback):
    """On the processes without `CheckpointScorer`: make the last step a checkpoint there too, so
    every process takes the same save decisions (a save is collective under ZeRO-3 and FSDP)."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = True
        return control


def no_dev_score(model: Any) -> dict[str, Any]:
    """What a checkpoint row holds when dev scoring is off (sharded runs): no scores, not zeros."""
    return {"dev_trait_score": None, "dev_capability_reward": None}


def save_gathered(trainer: Any, tc: TrainConfig, init: Path, policy: PolicyConfig, tmp: Path, main: bool) -> None:
    """Write the trained policy as a plain HF folder from a multi-process run; call on every process.

    `Trainer.save_model` gathers ZeRO-3 / FSDP shards and writes on the main process only. A
    LoRA run saves just the adapter there, so the main process merges it into the initial weights."""
    from traitrl.models.organism import quiet_transformers, save_model

    with quiet_transformers():
        trainer.save_model(str(tmp))
    if not main:
        return
    (tmp / "training_args.bin").unlink(missing_ok=True)
    if tc.lora.enabled:
        from traitrl.models.loader import load_model

        adapter = tmp.with_name(tmp.name + ".adapter")
        shutil.rmtree(adapter, ignore_errors=True)
        tmp.rename(adapter)
        merged, _ = load_model(adapter, policy, base=init, to_device=False)  # the one loader merges the adapter
        save_model(merged, trainer.processing_class, tmp)
        shutil.rmtree(adapter, ignore_errors=True)
