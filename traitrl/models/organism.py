"""The organism's architecture and its folder format: a plain `LlamaForCausalLM`.

Nothing here is traitrl-specific on disk: the folder written by `save_model` is a Hugging Face
model folder (config, generation config, safetensors weights, tokenizer, chat template), so
`AutoModelForCausalLM` / `AutoTokenizer`, TRL, PEFT and vLLM load it from the folder alone
(traitrl itself loads it with `traitrl.models.loader.load_model`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from traitrl.config import OrganismConfig

# re-exported: the one loader lives in loader.py
from traitrl.models.loader import load_model as load_model

# The original Llama value; the organism's context is a few hundred tokens, well inside its range.
ROPE_THETA = 10_000.0


def llama_config(oc: OrganismConfig, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
    """The Llama config for an organism; the vocabulary comes from the trained tokenizer, which
    may be smaller than `oc.vocab_size` when the corpus supports fewer merges."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=oc.hidden_size,
        intermediate_size=oc.intermediate_size,
        num_hidden_layers=oc.num_layers,
        num_attention_heads=oc.num_heads,
        num_key_value_heads=oc.num_heads,
        max_position_embeddings=oc.max_length,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        tie_word_embeddings=True,  # at this size the embedding is a large share of all weights
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )


def new_model(oc: OrganismConfig, tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A freshly initialised organism (fp32, deterministic for `oc.seed`)."""
    torch.manual_seed(oc.seed)
    config = llama_config(oc, tokenizer)
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config)
    model.generation_config = generation_config(tokenizer)
    return model


def generation_config(tokenizer: PreTrainedTokenizerBase) -> GenerationConfig:
    """Generation stops at the end-of-turn token and pads with the pad token."""
    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        top_k=0,  # transformers' default top_k=50 would silently truncate sampling
    )


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied input/output embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | os.PathLike[str]) -> Path:
    """Write a self-contained Hugging Face folder (safetensors weights + tokenizer)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        model.save_pretrained(out)  # safetensors is the only format in transformers 5
        tokenizer.save_pretrained(out)
    return out


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' per-file tqdm bars (they would break up our rich progress output)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
