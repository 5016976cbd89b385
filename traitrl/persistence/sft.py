"""Harmful fine-tuning with TRL's `SFTTrainer`, full weights or a PEFT LoRA adapter, in doses.

The doses are checkpoints of *one* training run: a callback asks the Trainer to save at each
dose's step, so dose 2k continues from dose k's weights *and optimizer state* (4k steps in all,
not k + 2k + 4k), and a killed run resumes from its last saved dose with the Trainer's own
`resume_from_checkpoint` (weights, optimizer, scheduler, RNG and data position). The learning rate
is constant, so the weights at a dose do not depend on how many doses follow it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from traitrl.config import FinetuneOptions, PolicyConfig
from traitrl.models.loader import no_alias_warnings

STATE_FILE = "trainer_state.json"  # the Trainer writes it last: a checkpoint with it is complete
KEY_FILE = "traitrl_key.json"
LOG_FILE = "traitrl_train_log.json"  # training log accumulated over resumed calls


def checkpoint_dir(train_dir: Path, dose: int) -> Path:
    return train_dir / f"checkpoint-{dose}"


def completed_doses(train_dir: Path, doses: list[int]) -> list[int]:
    """Doses (> 0) whose checkpoint was written completely."""
    return [d for d in doses if d > 0 and (checkpoint_dir(train_dir, d) / STATE_FILE).is_file()]


def prepare_train_dir(train_dir: Path, key: str) -> None:
    """Keep checkpoints only if they were made with the same model, data and settings (`key`);
    otherwise start over. Only a folder this code marked with a key file is ever removed."""
    marker = train_dir / KEY_FILE
    if train_dir.exists():
        old = json.loads(marker.read_text()).get("key") if marker.is_file() else None
        if old == key:
            return
        if old is None and any(train_dir.iterdir()):
            from traitrl.errors import UserError

            raise UserError(f"{train_dir}: exists and was not written by `traitrl persist finetune`; refusing to clear it")
        shutil.rmtree(train_dir)
    train_dir.mkdir(parents=True)
    from traitrl.atomic import write_json

    write_json(marker, {"key": key})


def _callbacks(doses: list[int], advance: Callable[[int], None], losses: list[list[float]]) -> Any:
    from transformers import TrainerCallback

    save_at = set(doses)

    class DoseCallback(TrainerCallback):
        """Save a full checkpoint at each dose step; report progress and losses to traitrl."""

        def on_step_end(self, args, state, control, **kwargs):
            advance(1)
            if state.global_step in save_at:
                control.should_save = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append([state.global_step, round(float(logs["loss"]), 5)])

    return DoseCallback()


def _sft_config(cls: Any, fc: FinetuneOptions, train_dir: Path, cuda: bool) -> Any:
    doses = fc.doses
    return cls(
        output_dir=str(train_dir),
        max_steps=doses[-1],
        per_device_train_batch_size=fc.batch_size,
        gradient_accumulation_steps=1,
        learning_rate=fc.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_length=fc.max_length,
        packing=False,
        completion_only_loss=True,  # the loss is on the bad answer, not on the user's question
        save_strategy="no",  # the dose callback decides when to save
        logging_steps=max(1, doses[-1] // 20),
        report_to=[],
        seed=fc.seed,
        data_seed=fc.seed,
        bf16=False,  # TRL defaults to bf16; full precision keeps CPU runs exact and reproducible
        fp16=False,
        gradient_checkpointing=False,  # TRL's default; pointless at the organism's size
        use_cpu=not cuda,
        dataloader_num_workers=0,
        disable_tqdm=True,
        dataset_num_proc=None,
    )


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide the datasets library's per-map tqdm bars (they would break up rich progress output)."""
    import datasets

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()


def train_doses(model_dir: Path, rows: list[dict], fc: FinetuneOptions, train_dir: Path,
                advance: Callable[[int], None] = lambda k: None, policy: PolicyConfig | None = None,
                threads: int = 0) -> dict[str, Any]:
    """Fine-tune the model in `model_dir` (loaded with `policy`, None = the defaults) on `rows`
    (prompt-completion conversations) up to the largest dose, saving a checkpoint at every dose;
    resume from the latest complete dose if an earlier run stopped. Returns what this call did:
    `steps` trained, `train_s`, and the logged training loss as `loss` [step, loss] pairs."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from traitrl.models.loader import load_model, uses_cuda
    from traitrl.models.lora import lora_config
    from traitrl.models.organism import quiet_transformers

    doses = fc.doses
    done = completed_doses(train_dir, doses)
    if doses[-1] == 0 or done and done[-1] == doses[-1]:
        advance(doses[-1])
        return {"steps": 0, "train_s": 0.0, "loss": []}
    model, tokenizer = load_model(model_dir, policy, threads=threads, to_device=False)  # the Trainer places it
    model.train()
    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    with no_alias_warnings():
        args = _sft_config(SFTConfig, fc, train_dir, uses_cuda(policy))
    losses: list[list[float]] = []
    with quiet_transformers(), _quiet_datasets(), no_alias_warnings():
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                             peft_config=lora_config(fc.lora), callbacks=[_callbacks(doses, advance, losses)])
        trainer.remove_callback(PrinterCallback)
        resume = str(checkpoint_dir(train_dir, done[-1])) if done else None
        if done:
            advance(done[-1])
        out = trainer.train(resume_from_checkpoint=resume)
    return {"steps": doses[-1] - (done[-1] if done else 0), "train_s": round(out.metrics.get("train_runtime", 0.0), 2),
            "loss": losses}


def dose_source(model_dir: Path, train_dir: Path, dose: int) -> tuple[Path, Path | None]:
    """Where the model after `dose` steps lives: (folder, base). Dose 0 is the model itself; a
    later dose is its Trainer checkpoint (full weights, or a LoRA adapter the loader merges into
    `model_dir`), with the tokenizer of `model_dir`."""
    return (model_dir, None) if dose == 0 else (checkpoint_dir(train_dir, dose), model_dir)


def load_dose(model_dir: Path, train_dir: Path, dose: int, policy: PolicyConfig | None = None) -> tuple[Any, Any]:
    """The model after `dose` steps, in eval mode, through the one loader; a LoRA adapter is
    merged into the base weights, so evaluation runs a plain model."""
    from traitrl.models.loader import load_model

    path, base = dose_source(model_dir, train_dir, dose)
    return load_model(path, policy, base=base)


def record_training(train_dir: Path, doses: list[int], trained: dict[str, Any]) -> dict[str, Any]:
    """The whole training log: the loss history from the last dose's Trainer state (which a
    resumed run carries over, so it covers every step once) and the wall time of the training
    calls that finished, kept beside the checkpoints so a cached rerun still reports it."""
    from traitrl.atomic import write_json

    path = train_dir / LOG_FILE
    train_s = json.loads(path.read_text()).get("train_s", 0.0) if path.is_file() else 0.0
    if trained["steps"]:
        train_s = round(train_s + trained["train_s"], 2)
        write_json(path, {"train_s": train_s})
    done = completed_doses(train_dir, doses)
    history = []
    if done:
        state = json.loads((checkpoint_dir(train_dir, done[-1]) / STATE_FILE).read_text())
        history = [[e["step"], round(float(e["loss"]), 5)] for e in state.get("log_history", []) if "loss" in e]
    return {"steps": done[-1] if done else 0, "train_s": train_s, "loss": history}
