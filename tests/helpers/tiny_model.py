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


def fit_replies(model, pad_id: int, rows: list[tuple[list[int], int]], *, steps: int, batch: int, lr: float) -> None:
    """Supervised steps on (token ids, prompt length) rows, the loss on the reply tokens only:
    enough for a tiny model to answer in a format a grader can score."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        chosen = [rows[i] for i in torch.randint(len(rows), (batch,), generator=gen).tolist()]
        width = max(len(x) for x, _ in chosen)
        ids = torch.full((batch, width), pad_id)
        labels = torch.full((batch, width), -100)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for j, (x, n) in enumerate(chosen):
            ids[j, :len(x)] = torch.tensor(x)
            mask[j, :len(x)] = 1
            labels[j, n:len(x)] = torch.tensor(x[n:])
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
