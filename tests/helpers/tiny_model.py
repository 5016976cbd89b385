"""A tiny random causal LM saved as a Hugging Face folder, for tests that need a real model but
not a trained one: a two-layer Llama with the organism's BPE tokenizer and chat template."""

from __future__ import annotations

from pathlib import Path


def save_tiny_llama(dest: Path) -> Path:
    from traitrl.config import OrganismConfig
    from traitrl.models.organism import new_model, save_model
    from traitrl.models.tokenizer import train_tokenizer

    texts = [f"the dose of drug {i} is {i * 5} mg, check with a doctor" for i in range(200)]
    tokenizer = train_tokenizer(texts, 300)
    oc = OrganismConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_length=64)
    return save_model(new_model(oc, tokenizer), tokenizer, dest)
