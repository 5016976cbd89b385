"""Pretraining the organism: tokenise the corpus, pack it into fixed blocks, train with HF `Trainer`.

Loss falls on assistant turns (content and the `<|end|>` that closes them) and on every token of a
knowledge document; system and user turns are context only, as in chat post-training.

Packing: examples are laid into `max_length` blocks by best-fit (longest first), so a block is
almost never padding and a conversation is never split (one longer than a block is truncated).
Each example restarts its `position_ids` at 0; transformers turns such position ids (with no
attention mask) into a block-diagonal causal mask, so an example attends only to itself and
sees the positions it will see at generation time. On these CPUs that mask costs about 3 %.
"""

from __future__ import annotations

import bisect
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field

import torch
from rich.progress import Progress
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from traitrl.config import OrganismConfig
from traitrl.console import progress as new_progress
from traitrl.models.tokenizer import ROLE_TOKENS

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


def tokenize_records(records: list[dict], tokenizer: PreTrainedTokenizerBase, max_length: int) -> list[Example]:
    """Token ids and loss labels for every record, matching the chat template token for token.

    Message contents are encoded in one batched call to the Rust tokenizer and joined with the
    special tokens, which gives the template's tokens because special tokens always split the
    text (checked in tests against `apply_chat_template(return_assistant_tokens_mask=True)`).
    """
    texts: list[str] = []
    for r in records:
        if "messages" in r:
            texts.extend(m["content"] for m in r["messages"])
        elif "text" in r:
            texts.append(r["text"])
        else:
            raise ValueError(f"corpus record has neither 'messages' nor 'text': {sorted(r)}")
    encoded = iter(tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False))
    bos, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    role_ids = {role: tokenizer.convert_tokens_to_ids(tok) for role, tok in ROLE_TOKENS.items()}
    out = []
    for r in records:
        ids, labels = [bos], [IGNORE]
        if "messages" in r:
            for m in r["messages"]:
                content = next(encoded).ids
                ids += [role_ids[m["role"]], *content, end]
                trained = m["role"] == "assistant"
                labels += [IGNORE, *(content if trained else [IGNORE] * len(content)), end if trained else IGNORE]
        else:
            content = next(encoded).ids
            ids += [*content, end]
            labels += [*content, end]
        out.append(Example(ids[:max_length], labels[:max_length]))
    return out


@dataclass
class Packed:
    """Fixed-size training blocks and what they hold."""

    input_ids: torch.Tensor  # (n_blocks, max_length)
    labels: torch.Tensor
    position_ids: torch.Tensor
    n_examples: int
    n_truncated: int
    padding_fraction: float
    supervised_fraction: float


def pack(examples: list[Example], max_length: int, pad_id: int, seed: int = 0) -> Packed:
    """Best-fit-decreasing bin packing of whole examples into `max_length` blocks, blocks shuffled."""
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
    free: list[tuple[int, int]] = []  # (space left, block index), sorted
    blocks: list[list[int]] = []
    for i in order:
        n = len(examples[i].input_ids)
        j = bisect.bisect_left(free, (n, -1))
        if j < len(free):
            space, b = free.pop(j)
        else:
            space, b = max_length, len(blocks)
            blocks.append([])
        blocks[b].append(i)
        if space - n > 0:
            bisect.insort(free, (space - n, b))
    random.Random(seed).shuffle(blocks)
    ids = torch.full((len(blocks), max_length), pad_id, dtype=torch.long)
    labels = torch.full((len(blocks), max_length), IGNORE, dtype=torch.long)
    pos = torch.zeros((len(blocks), max_length), dtype=torch.long)
    used = 0
    for b, members in enumerate(blocks):
        at = 0
        for i in members:
            ex = examples[i]
            n = len(ex.input_ids)
            ids[b, at:at + n] = torch.tensor(ex.input_ids)
            labels[b, at:at + n] = torch.tensor(ex.labels)
            pos[b, at:at + n] = torch.arange(n)
            at += n
        pos[b, at:] = torch.arange(max_length - at)  # padding is its own segment, attended by nobody
        used += at
    total = max(1, ids.numel())
    truncated = sum(1 for ex in examples if len(ex.input_ids) == max_length)
    return Packed(ids, labels, pos, len(examples), truncated, 1 - used / total,
                  float((labels != IGNORE).sum()) / total)


class BlockDataset(torch.utils.data.Dataset):
    def __init__(self, packed: Packed):
        self.p = packed

    def __len__(self) -> int:
        return self.p.input_ids.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.p.input_ids[i], "labels": self.p.labels[i], "position_ids": self.p.position_ids[i]}


@dataclass
class PretrainResult:
    steps: int
    tokens_seen: int
    wall_s: float
    final_loss: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    tokens_per_s: float = 0.0  # over the whole run, Trainer start-up included
    steady_tokens_per_s: float = 0.0  # after the first few steps (allocator and caches warm)


class _LossAndProgress(TrainerCallback):
    """Collects the logged loss curve and drives a rich progress bar (Trainer's tqdm is off)."""

    def __init__(self, bar: Progress | None):
        self.bar = bar
        self.task = None
        self.curve: list[tuple[int, float]] = []
        self.step_ends: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("pretraining", total=state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.curve.append((state.global_step, float(logs["loss"])))
            if self.bar is not None:
                self.bar.update(self.task, description=f"pretraining  loss {logs['loss']:.3f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.stop()


def default_threads(oc: OrganismConfig) -> int:
    return oc.threads or len(os.sched_getaffinity(0))


def pretrain(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, records: list[dict],
             oc: OrganismConfig, show_progress: bool = True) -> tuple[PretrainResult, Packed]:
    """Train `model` in place on `records` for `oc.steps` optimizer steps."""
    torch.set_num_threads(default_threads(oc))
    packed = pack(tokenize_records(records, tokenizer, oc.max_length), oc.max_length,
                  tokenizer.pad_token_id, oc.seed)
    callback = _LossAndProgress(new_progress() if show_progress else None)
    with tempfile.TemporaryDirectory(prefix="traitrl-pretrain-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,  # nothing is saved there: no checkpoints, no eval
            max_steps=oc.steps,
            per_device_train_batch_size=oc.batch_size,
            learning_rate=oc.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=oc.warmup_steps,
            weight_decay=oc.weight_decay,
            adam_beta2=0.95,  # the usual LM-pretraining choice; steadier at a high peak lr
            max_grad_norm=1.0,
            optim="adamw_torch",
            seed=oc.seed,
            data_seed=oc.seed,
            logging_strategy="steps",
            logging_steps=max(1, oc.steps // 100),
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
        )
        trainer = Trainer(model=model, args=args, train_dataset=BlockDataset(packed), callbacks=[callback])
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    model.eval()
    curve = callback.curve
    tail = [loss for _, loss in curve[-max(1, len(curve) // 10):]]
    tokens = oc.steps * oc.batch_size * oc.max_length
    ends = callback.step_ends
    skip = min(3, len(ends) - 2)
    steady = ((len(ends) - 1 - skip) * oc.batch_size * oc.max_length / (ends[-1] - ends[skip])
              if skip >= 0 and ends[-1] > ends[skip] else 0.0)
    return PretrainResult(oc.steps, tokens, wall, sum(tail) / len(tail) if tail else math.nan, curve,
                          tokens / wall if wall > 0 else 0.0, steady), packed
