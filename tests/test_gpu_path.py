"""The GPU path, checked on the CPU: vLLM settings reach TRL's GRPOConfig, the policy is loaded
after the training arguments exist (so DeepSpeed ZeRO-3 can shard it as it loads), and
evaluation puts the policy on the GPU when there is one. `bench/gpu_check.sh` runs the real
thing on a GPU machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from traitrl.config import PolicyConfig, load_config  # noqa: E402
from traitrl.errors import UserError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from tests.helpers.tiny_model import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama")


def test_vllm_length_tensor_parallel_and_sleep_mode_reach_grpo_config(monkeypatch, tmp_path):
    from traitrl.models import policy as policy_mod
    from traitrl.train.grpo import grpo_args

    monkeypatch.setattr(policy_mod, "vllm_available", lambda: True)
    cfg = load_config("configs/smoke.yaml", [
        "policy.vllm_max_model_length=4096", "policy.vllm_tensor_parallel_size=2",
        "policy.vllm_enable_sleep_mode=true", "policy.vllm_gpu_memory_utilization=0.45"])
    args = grpo_args(cfg.train, tmp_path, cfg.policy)
    assert args.use_vllm is True and args.vllm_mode == "colocate"
    assert args.vllm_max_model_length == 4096
    assert args.vllm_tensor_parallel_size == 2
    assert args.vllm_enable_sleep_mode is True
    assert args.vllm_gpu_memory_utilization == 0.45
    # the defaults are TRL's: the model's own context, one GPU per engine, no sleep
    plain = grpo_args(cfg.train, tmp_path, PolicyConfig(use_vllm=True))
    assert (plain.vllm_max_model_length, plain.vllm_tensor_parallel_size, plain.vllm_enable_sleep_mode) == (None, 1, False)


def test_vllm_settings_are_off_without_vllm(tmp_path):
    from traitrl.train.grpo import grpo_args

    cfg = load_config("configs/smoke.yaml", ["policy.vllm_max_model_length=4096", "policy.use_vllm=false"])
    args = grpo_args(cfg.train, tmp_path, cfg.policy)
    assert args.use_vllm is False and args.vllm_max_model_length is None


def test_colocate_only_vllm_settings_are_refused_in_server_mode():
    with pytest.raises(UserError, match=r"vllm_tensor_parallel_size apply in vllm_mode colocate only.*trl vllm-serve"):
        load_config(None, ["policy.vllm_mode=server", "policy.vllm_tensor_parallel_size=4"])
    with pytest.raises(UserError, match=r"policy.vllm_max_model_length: Input should be greater than or equal to 1"):
        load_config(None, ["policy.vllm_max_model_length=0"])
    assert load_config(None, ["policy.vllm_mode=server"]).policy.vllm_tensor_parallel_size == 1


class _Stop(Exception):
    """Raised by the patched loader: the test needs the order of the calls, not a trainer."""


def test_the_policy_is_loaded_after_the_training_arguments_exist(tiny, tmp_path, monkeypatch):
    """Under ZeRO-3, TrainingArguments installs the DeepSpeed config that `from_pretrained` reads to
    shard weights while loading; a model loaded before them is materialised whole on every GPU."""
    from traitrl.models import loader
    from traitrl.train import grpo

    calls: list[str] = []
    real_args = grpo.grpo_args

    def args_then_record(*a, **k):
        out = real_args(*a, **k)
        calls.append("training arguments")
        return out

    def record_and_stop(*a, **k):
        calls.append("model")
        raise _Stop

    monkeypatch.setattr(grpo, "grpo_args", args_then_record)
    monkeypatch.setattr(loader, "load_model", record_and_stop)
    cfg = load_config("configs/smoke.yaml", ["scenarios.per_cell=1", "scenarios.dev_per_cell=1",
                                             "scenarios.capability_per_kind=4", "train.steps=1",
                                             "train.per_device_batch=4", "train.num_generations=2"])
    with pytest.raises(_Stop):
        grpo.train(cfg, tiny, tmp_path / "arm", show_progress=False)
    assert calls == ["training arguments", "model"]


def test_evaluation_puts_the_policy_on_the_gpu_when_there_is_one(tiny, monkeypatch):
    """`traitrl eval` loads through `load_policy`; with policy.device auto and a GPU present the
    model goes to CUDA (the move is recorded instead of made: this machine has no GPU)."""
    import torch

    from traitrl.models.loader import load_policy

    moved: list[torch.device] = []

    def record_to(self, *args, **kwargs):
        moved.append(torch.device(args[0]) if args else kwargs["device"])
        return self

    cfg = load_config(None, ["evals.threads=1"])
    assert cfg.policy.device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.nn.Module, "to", record_to)
    load_policy(tiny, cfg)
    assert [d.type for d in moved] == ["cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    moved.clear()
    load_policy(tiny, cfg)
    assert [d.type for d in moved] == ["cpu"]
