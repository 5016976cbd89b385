"""The one way traitrl loads a policy: a Hugging Face folder (or a PEFT adapter over one) ->
model and tokenizer on the configured device, with the `policy:` section applied.

Training, evaluation, the probe, dev scoring, training curves and both persistence experiments
all come through `load_model` / `load_policy`, so a setting of `policy:` (dtype, chat template,
device) means the same everywhere. A folder holding a LoRA adapter (`adapter_config.json`) is
loaded as its base model with the adapter merged in, so callers always get a plain model.

torch and transformers are imported inside the functions: importing this module (and `Policy`
with it) stays cheap for the command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitrl.config import Config, PolicyConfig, SamplingConfig
from traitrl.errors import UserError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ADAPTER_FILE = "adapter_config.json"  # what PEFT writes beside an adapter's weights

Conversation = list[dict]


@dataclass
class Policy:
    """A loaded model and tokenizer with the generation settings of an evaluation. Generation runs
    on the model's device."""

    model: Any
    tokenizer: Any
    sampling: SamplingConfig

    def generate(self, conversations: list[Conversation]) -> list[str]:
        from traitrl.models.generation import generate

        s = self.sampling
        return generate(self.model, self.tokenizer, conversations, max_new_tokens=s.max_new_tokens,
                        temperature=s.temperature, top_p=s.top_p, seed=s.seed, batch_size=s.batch_size)

    def option_logprobs(self, conversation: Conversation, options: list[str]) -> list[float]:
        from traitrl.models.generation import option_logprobs

        return option_logprobs(self.model, self.tokenizer, conversation, options)


def resolve_device(device: str) -> torch.device:
    """`policy.device` as a torch device: auto = CUDA when available, else the CPU; an explicit
    `cuda` without a GPU is an error, not a silent (and much slower) CPU run."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("policy.device: cuda, but torch sees no CUDA GPU; set policy.device to auto or cpu")
    if device not in ("cpu", "cuda"):
        raise UserError(f"policy.device: {device!r}; allowed: auto, cpu, cuda")
    return torch.device(device)


def uses_cuda(policy: PolicyConfig | None) -> bool:
    """Whether trainers should run on the GPU (TRL's and transformers' `use_cpu` is its negation)."""
    return resolve_device((policy or PolicyConfig()).device).type == "cuda"


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads (0 = leave torch's setting). On a CPU shared with other jobs
    one or two threads avoid OpenMP oversubscription, which can slow small models many-fold."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def is_adapter(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / ADAPTER_FILE).is_file()


def adapter_base(path: str | os.PathLike[str]) -> Path:
    """The base model folder a PEFT adapter records (`base_model_name_or_path`)."""
    cfg = json.loads((Path(path) / ADAPTER_FILE).read_text(encoding="utf-8"))
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise UserError(f"{path}: the LoRA adapter names no base model; pass the base folder explicitly")
    return Path(base)


def check_model_dir(path: str | os.PathLike[str]) -> Path:
    """`path` as a folder that holds a model (config.json) or a PEFT adapter, else a UserError."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{p}: model folder not found")
    if not ((p / "config.json").is_file() or is_adapter(p)):
        raise UserError(f"{p}: not a Hugging Face model folder (no config.json)")
    return p


def load_model(path: str | os.PathLike[str], policy: PolicyConfig | None = None, *,
               base: str | os.PathLike[str] | None = None, threads: int = 0,
               to_device: bool = True) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM folder in eval mode, with `policy` (None = the defaults) applied.

    - `policy.dtype` and `policy.chat_template` apply; a tokenizer left without a chat template
      is refused before the weights load (minutes for a large model).
    - `path` may hold a PEFT adapter: its base (`base`, else the one the adapter records) is
      loaded and the adapter merged in. `base` is also where the tokenizer comes from when given:
      the model a checkpoint was trained from.
    - `threads` > 0 pins torch's threads first.
    - the model is moved to `policy.device` unless `to_device` is False (a Trainer or accelerate
      places it itself); the device is checked either way.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from traitrl.models.organism import quiet_transformers
    from traitrl.models.policy import install_chat_template, torch_dtype

    policy = policy or PolicyConfig()
    path = check_model_dir(path)
    adapter = is_adapter(path)
    base_dir = Path(base) if base is not None else adapter_base(path) if adapter else None
    weights = check_model_dir(base_dir) if adapter else path
    device = resolve_device(policy.device)
    set_threads(threads)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(base_dir if base_dir is not None else path)
        install_chat_template(tokenizer, policy, path)
        model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch_dtype(policy))
        if adapter:
            from peft import PeftModel

            with no_alias_warnings():
                model = PeftModel.from_pretrained(model, path).merge_and_unload()
    if to_device:
        model = model.to(device)
    model.eval()
    return model, tokenizer


def load_policy(path: str | os.PathLike[str], config: Config, *, base: str | os.PathLike[str] | None = None,
                threads: int | None = None) -> Policy:
    """`load_model` with the config's policy section, sampling as the eval section says;
    `threads` defaults to `evals.threads`."""
    model, tokenizer = load_model(path, config.policy, base=base,
                                  threads=config.evals.threads if threads is None else threads)
    return Policy(model, tokenizer, config.evals.sampling)


@contextlib.contextmanager
def no_alias_warnings() -> Iterator[None]:
    """transformers 5 warns that its own `gradient_checkpointing` names are deprecated aliases
    whenever TRL or PEFT touch them; the warning is about library internals, not our settings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
        yield
