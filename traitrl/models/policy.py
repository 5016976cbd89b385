"""Any Hugging Face causal LM as the policy: its dtype, its chat template, and TRL's vLLM settings.

The organism needs none of this (fp32, its own chat template, CPU generation); a real open-weights
model does. Each function maps the `policy:` config section onto what transformers and TRL
already offer, so generation and distribution stay theirs, not ours (STYLE habit 7).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from traitrl.config import PolicyConfig
from traitrl.errors import UserError

DTYPES: dict[str, torch.dtype | str] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "auto": "auto"}


def torch_dtype(policy: PolicyConfig) -> torch.dtype | str:
    """The `dtype` argument of `from_pretrained` ("auto" = the dtype the checkpoint was saved in)."""
    return DTYPES[policy.dtype]


def install_chat_template(tokenizer: PreTrainedTokenizerBase, policy: PolicyConfig,
                          model_dir: str | os.PathLike[str]) -> None:
    """Put `policy.chat_template` on the tokenizer, and refuse a tokenizer left without one.

    Every prompt traitrl sends (rollouts, evals, dev scoring) goes through the chat template; a
    base model without one would otherwise fail with transformers' error inside the first batch."""
    if policy.chat_template is not None:
        path = Path(policy.chat_template)
        if not path.is_file():
            raise UserError(f"policy.chat_template: {path}: file not found")
        tokenizer.chat_template = path.read_text(encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{model_dir}: the tokenizer has no chat template; set policy.chat_template to a Jinja "
                        "file (e.g. --set policy.chat_template=configs/scale/chatml.jinja)")


def check_policy(policy: PolicyConfig, model_dir: str | os.PathLike[str]) -> None:
    """Fail on a policy section that cannot work with `model_dir` before a run writes anything:
    a missing chat template, a GPU or vLLM asked for where there is none. Loads only the tokenizer."""
    from transformers import AutoTokenizer

    from traitrl.models.loader import resolve_device

    resolve_device(policy.device)
    resolve_use_vllm(policy)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as e:  # no or a broken tokenizer: the folder is not a usable model
        raise UserError(f"{model_dir}: cannot load its tokenizer ({str(e).splitlines()[0]})") from None
    install_chat_template(tokenizer, policy, model_dir)


def vllm_available() -> bool:
    """vLLM generation inside TRL needs a CUDA device and the `vllm` package."""
    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def resolve_use_vllm(policy: PolicyConfig) -> bool:
    """`auto` follows what is installed; an explicit `true` that cannot be honoured is an error,
    not a silent fallback to the (much slower) transformers generation."""
    if policy.use_vllm == "auto":
        return vllm_available()
    if policy.use_vllm and not vllm_available():
        have = "no CUDA device" if not torch.cuda.is_available() else "the vllm package is not installed"
        raise UserError(f"policy.use_vllm: true needs a CUDA GPU and the vllm package ({have}); "
                        "pip install vllm, or set policy.use_vllm to auto or false")
    return bool(policy.use_vllm)


def grpo_policy_args(policy: PolicyConfig) -> dict[str, Any]:
    """The `GRPOConfig` keyword arguments that come from the policy section."""
    args: dict[str, Any] = {"activation_checkpointing": policy.gradient_checkpointing}
    if resolve_use_vllm(policy):
        args.update(use_vllm=True, vllm_mode=policy.vllm_mode,
                    vllm_gpu_memory_utilization=policy.vllm_gpu_memory_utilization,
                    vllm_max_model_length=policy.vllm_max_model_length,
                    vllm_tensor_parallel_size=policy.vllm_tensor_parallel_size,
                    vllm_enable_sleep_mode=policy.vllm_enable_sleep_mode)
        if policy.vllm_mode == "server" and policy.vllm_server_base_url:
            args["vllm_server_base_url"] = policy.vllm_server_base_url
    return args


def policy_key(policy: PolicyConfig) -> dict[str, Any] | None:
    """What a training run's results depend on in the policy section; None for the defaults, so
    the keys of organism runs made before the section existed stay valid. The template counts by
    content, not path; the model folder is keyed as the init; checkpointing changes only memory."""
    if policy.dtype == "float32" and policy.chat_template is None and not resolve_use_vllm(policy):
        return None
    template = None
    if policy.chat_template is not None and Path(policy.chat_template).is_file():
        template = hashlib.sha256(Path(policy.chat_template).read_bytes()).hexdigest()[:16]
    return {"dtype": policy.dtype, "chat_template": template, "use_vllm": resolve_use_vllm(policy),
            "vllm_mode": policy.vllm_mode}
