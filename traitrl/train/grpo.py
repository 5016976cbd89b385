"""Trait RL through `trl.GRPOTrainer`: mix -> router -> GRPO -> checkpoints scored on dev.jsonl.

The flow of one arm, top to bottom in `train()`:

1. read train.jsonl / dev.jsonl (or generate them from the config);
2. build the arm's mix (capability tasks + a small fraction of trait scenarios, fixed size);
3. route every rollout to its grader (`RewardRouter`), the graders the evals use;
4. train with TRL's GRPOTrainer (optionally a PEFT LoRA adapter), one generation round per
   optimizer step, a checkpoint every `checkpoint_every` steps and at the end;
5. at step 0 and at each checkpoint, score dev.jsonl (in-distribution trait score, capability
   reward) into metrics.jsonl;
6. save the final model (LoRA merged) and write train.json last: its presence means "done".

A run folder is keyed by its inputs; calling `train()` again resumes from the last complete
checkpoint, or returns at once when train.json is there. How this differs from the paper: the
policy is a tiny CPU organism and rewards come from the deterministic world grader.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from traitrl.atomic import write_json, write_text
from traitrl.config import Config, PolicyConfig, TrainConfig
from traitrl.errors import UserError
from traitrl.scenarios.record import Scenario
from traitrl.train.arms import arm_config
from traitrl.train.record import TrainRecord, read_train_record
from traitrl.train.run_folder import (
    CHECKPOINTS,
    MIX_FILE,
    MODEL_DIR,
    RESULT_FILE,
    RUN_FILE,
    check_owner,
    finished_run,
    last_checkpoint,
    load_splits,
    run_key,
)

_REPORTERS = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "trackio": ("trackio",),
              "mlflow": ("mlflow",), "comet_ml": ("comet_ml",)}


def prompts_per_step(tc: TrainConfig) -> int:
    return tc.per_device_batch // tc.num_generations


def mix_size(tc: TrainConfig) -> int:
    """Rows in the mix: as configured, else exactly the prompts the run consumes."""
    return tc.mix_size or tc.steps * prompts_per_step(tc)


def grpo_args(tc: TrainConfig, out_dir: str | os.PathLike[str], policy: PolicyConfig | None = None):
    """The `GRPOConfig` of a run. It reads no data field of `tc`, so every arm gets the same one.
    `policy` adds vLLM generation and activation checkpointing (None = neither, the organism's)."""
    import torch
    from trl import GRPOConfig

    from traitrl.models.loader import uses_cuda
    from traitrl.models.policy import grpo_policy_args

    cuda = uses_cuda(policy)
    # tiny models: activation recomputation costs more than it saves, so it is off unless asked for
    scale = grpo_policy_args(policy) if policy is not None else {"activation_checkpointing": False}
    return GRPOConfig(
        output_dir=str(Path(out_dir) / CHECKPOINTS),
        run_name=Path(out_dir).name,
        max_steps=tc.steps,
        learning_rate=tc.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        per_device_train_batch_size=tc.per_device_batch,
        gradient_accumulation_steps=1,
        steps_per_generation=1,  # one fresh generation round per optimizer step: on-policy
        num_generations=tc.num_generations,
        max_completion_length=tc.max_completion_length,
        temperature=tc.temperature,
        top_p=1.0,
        top_k=0,
        beta=tc.beta,
        disable_dropout=True,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        use_cpu=not cuda,
        seed=tc.seed,
        data_seed=tc.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=tc.checkpoint_every,
        save_total_limit=tc.keep_checkpoints,
        report_to=list(tc.report_to) or "none",
        log_completions=tc.log_completions,
        num_completions_to_print=4,
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        ddp_find_unused_parameters=False,  # every weight (or adapter) gets a gradient; skips a graph walk per step
        **scale,
    )


class _UnscoredRowsFilter(logging.Filter):
    """TRL warns, with the whole row, whenever every reward of a completion is None. For us that is
    an expected outcome (an unparseable reply is unscored), counted in `reward_by/unscored_frac`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "All reward functions returned None" not in record.getMessage()


class _TiedKeysFilter(logging.Filter):
    """On resume the Trainer warns that a checkpoint lacks the weights a tied model never saves
    (the organism's lm_head is its embedding); the tie holds, so only other missing keys are news."""

    def __init__(self) -> None:
        super().__init__()
        self.tied: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        head = "There were missing keys in the checkpoint model loaded: "
        if not message.startswith(head):
            return True
        missing = {key.strip(" '[].") for key in message[len(head):].split(",")}
        return not missing <= self.tied


def _quiet_trl(model) -> None:
    """Expected warnings off (once per process), for the model about to be trained."""
    log = logging.getLogger("trl.trainer.grpo_trainer")
    if not any(isinstance(f, _UnscoredRowsFilter) for f in log.filters):
        log.addFilter(_UnscoredRowsFilter())
    trainer_log = logging.getLogger("transformers.trainer")
    tied = next((f for f in trainer_log.filters if isinstance(f, _TiedKeysFilter)), None)
    if tied is None:
        tied = _TiedKeysFilter()
        trainer_log.addFilter(tied)
    # parameters that alias another one are the tied weights a checkpoint leaves out (of the
    # model being trained now: one trainer per process at a time)
    unique = {name for name, _ in model.named_parameters()}
    tied.tied = {name for name, _ in model.named_parameters(remove_duplicate=False)} - unique


def peft_config(tc: TrainConfig):
    """The run's PEFT LoRA config (None = train every weight): the one LoRA setup SFT uses too."""
    from traitrl.models.lora import lora_config

    return lora_config(tc.lora)


def check_reporters(report_to: list[str]) -> None:
    for name in report_to:
        modules = _REPORTERS.get(name)
        if modules is None:
            raise UserError(f"train.report_to: unknown {name!r}; allowed: {', '.join(_REPORTERS)}")
        if not any(importlib.util.find_spec(m) for m in modules):
            raise UserError(f"train.report_to: {name} is not installed (pip install {modules[0]})")


def train(config: Config, init_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, arm: str | None = None,
          scenarios_dir: str | os.PathLike[str] | None = None, show_progress: bool = True,
          callbacks: list | None = None, key: str | None = None) -> TrainRecord:
    """Train one arm with GRPO from `init_dir` into `out_dir`; return the train.json record.

    `key` identifies the run (the arm stage's derived key); without one it is derived here from
    the same inputs, so a folder is resumed only by a run with identical inputs and code.
    One writer per folder: the main process holds `out_dir`, a second run on it is refused at once."""
    from traitrl.locks import hold_folder
    from traitrl.train.distributed import process_state

    hold = hold_folder(out_dir, "traitrl train") if process_state().is_main_process else contextlib.nullcontext()
    with hold:
        return _train_locked(config, init_dir, out_dir, arm=arm, scenarios_dir=scenarios_dir,
                             show_progress=show_progress, callbacks=callbacks, key=key)


def _train_locked(config: Config, init_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                  arm: str | None, scenarios_dir: str | os.PathLike[str] | None, show_progress: bool,
                  callbacks: list | None, key: str | None) -> TrainRecord:
    init, out = Path(init_dir), Path(out_dir)
    if not (init / "config.json").is_file():
        raise UserError(f"{init}: not a Hugging Face model folder (no config.json)")
    from traitrl.models.policy import check_policy

    check_policy(config.policy, init)
    tc = arm_config(config.train, arm)
    config = config.model_copy(update={"train": tc})
    check_reporters(tc.report_to)
    from traitrl.train.distributed import process_state

    state = process_state(config.policy)
    # under `accelerate launch` the main process checks the folder and writes the inputs; the others then find them
    with state.main_process_first():
        check_owner(out)
        out.mkdir(parents=True, exist_ok=True)
        train_rows, dev_rows, data = load_splits(config, out, Path(scenarios_dir) if scenarios_dir else None)
        key = key or run_key(config, tc, init, data)
        done = finished_run(out, key)
        if done is None and state.is_main_process:
            # run.json first: it claims the folder, so a run killed before config.yaml is still resumable
            write_json(out / RUN_FILE, {"key": key, "arm": tc.arm, "init": str(init), "data": str(data)})
            write_text(out / "config.yaml", config.to_yaml())
    if done is not None:
        return done

    with _torch_threads(tc.threads), warnings.catch_warnings():
        # TRL 1.16 reads transformers' deprecated `is_gradient_checkpointing`; nothing for a user to fix
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return _train(config, tc, init, out, key, train_rows, dev_rows, show_progress, callbacks, state)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Use `n` torch threads (0 = leave as is) for the run only. On a shared machine, one thread
    per process avoids the spin-waiting of oversubscribed OpenMP pools, which can cost 10x."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(config: Config, tc: TrainConfig, init: Path, out: Path, key: str, train_rows: list[Scenario],
           dev_rows: list[Scenario], show_progress: bool, callbacks: list | None, state) -> TrainRecord:
    from traitrl.config import MODEL_CONFIG
    from traitrl.models.organism import quiet_transformers
    from traitrl.train.mix import build_mix

    t0 = time.perf_counter()
    mix = build_mix(train_rows, tc, mix_size(tc))
    if state.is_main_process:
        write_json(out / MIX_FILE, {"stats": mix.stats, "ids": [s.id for s in mix.rows]})
    trainer, router, log, progress = _build_trainer(config, tc, init, out, mix, dev_rows, show_progress,
                                                    list(callbacks or []), state)
    resume = last_checkpoint(out)
    try:
        with quiet_transformers():  # no per-checkpoint "writing shards" bars under our progress bar
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    finally:
        if progress is not None:
            progress.close()
    # the template is saved with the tokenizer, so the model folder's config need not point to the file
    baked = config.model_copy(update={"policy": config.policy.model_copy(update={"chat_template": None})})
    model_dir = _save_final(trainer, tc, out, baked.to_yaml(), MODEL_CONFIG, state, init, config.policy)
    if state.is_main_process:
        result = _result(key, tc, init, model_dir, mix.stats, trainer, router, log, time.perf_counter() - t0,
                         resumed_from=resume, num_processes=state.num_processes)
        write_json(out / RESULT_FILE, result.model_dump(mode="json"))
    state.wait_for_everyone()
    if state.is_main_process:
        return result
    return read_train_record(out / RESULT_FILE)


def _build_trainer(config: Config, tc: TrainConfig, init: Path, out: Path, mix, dev_rows: list[Scenario],
                   show_progress: bool, extra_callbacks: list, state):
    """The GRPOTrainer with our router as its one reward function, and our callbacks (the logging
    and scoring ones on the main process only)."""
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from traitrl.evals.runner import world_of
    from traitrl.graders.registry import LLM_JUDGE, needs_judge
    from traitrl.graders.world import WorldGrader
    from traitrl.models.loader import load_model
    from traitrl.train.callbacks import (
        CheckpointScorer,
        MetricsLog,
        RichProgress,
        TrainCounters,
        UnscoredGuard,
    )
    from traitrl.train.dev import dev_subset, score_dev
    from traitrl.train.distributed import LastStepSave, is_sharded, no_dev_score
    from traitrl.train.rewards import RewardStats, make_router

    grader = WorldGrader(world_of(config))
    # a given policy does not speak the world's language: its helpfulness control is judged too
    given = config.policy.model is not None
    # a given policy's dev trait scenarios are judge-graded: the judge scores them too, on every arm
    # (train.json's judge counters then include that work)
    judged_dev = given and config.judge is not None and any(s.grader == LLM_JUDGE for s in dev_rows)
    judge = None
    if config.judge is not None and (judged_dev or any(needs_judge(s.grader, given) for s in mix.rows)):
        from traitrl.graders.judge import LLMJudge

        judge = LLMJudge(config.judge)
    # the training arguments first: under DeepSpeed ZeRO-3 they install the config that makes
    # from_pretrained shard the weights as they load (HfDeepSpeedConfig), instead of loading whole
    args = grpo_args(tc, out, config.policy)
    model, tokenizer = load_model(init, config.policy, to_device=False)  # the Trainer places it
    _quiet_trl(model)
    decode_length = None
    # vLLM takes no eos override; its rollouts stop at the end token and their real lengths are counted
    if tc.fixed_length_rollouts and not args.use_vllm:
        _fixed_length(args, model, tokenizer)
        decode_length = tc.max_completion_length
    router = make_router(grader, judge, RewardStats(decode_length), names={s.grader for s in mix.rows},
                         given_policy=given)
    router.check({s.grader for s in mix.rows})  # fail before any training
    dev_judge = judge if judged_dev else None
    dev = dev_subset(dev_rows, tc.dev_items, judged=judged_dev)
    log = MetricsLog(out / "metrics.jsonl")
    progress = RichProgress(f"train {tc.arm}") if show_progress and state.is_main_process else None
    score = no_dev_score if is_sharded(state) else (
        lambda m: score_dev(m, tokenizer, dev, grader, config.evals.sampling, dev_judge))
    scorer = CheckpointScorer(log, score, router.stats, on_score=progress.on_checkpoint_score if progress else None)
    ours = [scorer, *([progress] if progress else [])] if state.is_main_process else [LastStepSave()]
    guard = UnscoredGuard(router.stats, tc.max_unscored_rate, tc.unscored_check_steps)
    counters = TrainCounters(router.stats, router.graders.get(LLM_JUDGE))
    cbs = [counters, guard, *ours, *extra_callbacks]
    trainer = GRPOTrainer(model=model, reward_funcs=[router], args=args, train_dataset=mix.to_dataset(),
                          processing_class=tokenizer, callbacks=cbs, peft_config=peft_config(tc))
    trainer.remove_callback(PrinterCallback)  # metrics go to metrics.jsonl and the progress bar
    return trainer, router, log, progress


def _fixed_length(args, model, tokenizer) -> None:
    """Make every rollout batch decode `max_completion_length` tokens: generation stops at no token
    (its stop id lies past the vocabulary, so it is never sampled), while TRL still cuts each
    completion at its first end token. Every arm then spends the same generation compute, whatever
    its reply lengths. Stopping at the pad token instead fails for Qwen-style tokenizers, whose pad
    `<|endoftext|>` is itself an end token the policy writes."""
    never = max(len(tokenizer), model.config.get_text_config().vocab_size)
    args.generation_kwargs = {**(args.generation_kwargs or {}), "eos_token_id": never}


def _save_final(trainer, tc: TrainConfig, out: Path, config_yaml: str, model_config_name: str, state,
                init: Path, policy: PolicyConfig) -> Path:
    """The trained policy as a plain HF folder (LoRA merged in), moved into place when complete."""
    from traitrl.models.lora import merge_adapter
    from traitrl.models.organism import save_model
    from traitrl.train.distributed import save_gathered

    tmp, final = out / f".{MODEL_DIR}.tmp", out / MODEL_DIR
    if state.num_processes > 1:
        if state.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        state.wait_for_everyone()
        save_gathered(trainer, tc, init, policy, tmp, state.is_main_process)
        if not state.is_main_process:
            return final
    else:
        model = merge_adapter(trainer.model)
        shutil.rmtree(tmp, ignore_errors=True)
        model.eval()
        save_model(model, trainer.processing_class, tmp)
    write_text(tmp / model_config_name, config_yaml)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def _judge_stats(trainer):
    """The judge's counters over the whole run (resumed runs included), when the mix had rows it graded."""
    from traitrl.train.callbacks import TrainCounters
    from traitrl.train.record import JudgeStats

    counters = next(c for c in trainer.callback_handler.callbacks if isinstance(c, TrainCounters))
    judge = counters.judge
    return JudgeStats.of(judge, counters.judge_totals()).model_dump() if judge is not None else None


def _result(key, tc, init, model_dir, mix_stats, trainer, router, log, wall_s, resumed_from,
            num_processes: int = 1) -> TrainRecord:
    rows = log.rows()
    ckpts = [r for r in rows if r.get("type") == "checkpoint"]
    train_rows = [r for r in rows if r.get("type") == "train"]
    tail = train_rows[-max(1, len(train_rows) // 10):]

    def tail_mean(k: str) -> float | None:
        vals = [r[k] for r in tail if r.get(k) is not None]
        return sum(vals) / len(vals) if vals else None

    stats = router.stats
    return TrainRecord.model_validate({
        "key": key,
        "arm": tc.arm,
        "seed": tc.seed,
        "init": str(init),
        "model": str(model_dir),
        "optimizer_steps": trainer.state.global_step,
        "generated_tokens": stats.generated_tokens,
        "completion_tokens": stats.completion_tokens,
        "completions": stats.completions,
        "fixed_length_rollouts": stats.decode_length is not None,
        "tokens_seen": trainer.state.num_input_tokens_seen,
        "unscored_rate": stats.unscored / stats.completions if stats.completions else None,
        "unscored_reasons": dict(stats.top_reasons(10)),
        "judge": _judge_stats(trainer),
        "mix": mix_stats,
        "train_reward_means": stats.means(),
        "final_train_rewards": {k: tail_mean(f"reward_by/kind/{k}") for k in ("trait", "capability")},
        "final": {k: v for k, v in (ckpts[-1] if ckpts else {}).items() if k.startswith("dev_")},
        "curve": {
            "steps": [r["step"] for r in ckpts],
            "generated_tokens": [r["generated_tokens"] for r in ckpts],
            "dev_trait_score": [r["dev_trait_score"] for r in ckpts],
            "dev_capability_reward": [r["dev_capability_reward"] for r in ckpts],
        },
        "resumed_from": str(resumed_from) if resumed_from else None,
        # completions and token counts above are the main process's share: the same per process
        "num_processes": num_processes,
        "wall_s": round(wall_s, 2),
        "grpo": {k: v for k, v in trainer.args.to_dict().items()
                 if k in ("learning_rate", "per_device_train_batch_size", "num_generations", "max_completion_length",
                          "temperature", "beta", "max_steps", "seed", "loss_type", "scale_rewards", "use_vllm",
                          "activation_checkpointing")},
    })
