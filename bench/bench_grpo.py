"""Overhead of our RL plumbing on a GRPO step: mixer + reward router + world grader, against the
same TRL step with a constant reward, on the same model and the same batch, in one run.

Both trainers get the same mixed dataset, GRPO arguments and seed, and a learning rate of 0, so
the policy never changes and both sample exactly the same rollouts; the only difference left is
the reward function (and what the advantages come out as, which costs nothing). The runs are
interleaved (A B A B ...) so machine load hits both alike; each step's time is TRL's own
`step_time` (generation + scoring + forward/backward + optimizer). The mixer runs once per run,
before training, so its time is reported beside the per-step numbers, amortised over the run.

Target (issue 5): overhead <= 5 %.

    python bench/bench_grpo.py [--model DIR] [--steps 6] [--reps 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import PrinterCallback, TrainerCallback  # noqa: E402

from traitrl.config import load_config  # noqa: E402
from traitrl.evals.runner import world_of  # noqa: E402
from traitrl.graders.world import WorldGrader  # noqa: E402
from traitrl.scenarios.generate import capability_tasks, trait_scenarios  # noqa: E402
from traitrl.train.grpo import _quiet_trl, grpo_args, mix_size  # noqa: E402
from traitrl.train.mix import build_mix  # noqa: E402
from traitrl.train.rewards import make_router  # noqa: E402


class StepTimes(TrainerCallback):
    """TRL's per-step time, and the mean completion length (to check both sides sampled alike)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lengths: list[float] = []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "step_time" in logs:
            self.times.append(float(logs["step_time"]))
            self.lengths.append(float(logs["completions/mean_length"]))


class Timed:
    """Wraps a reward function and adds up the time spent inside it."""

    def __init__(self, fn) -> None:
        self.fn, self.seconds, self.__name__ = fn, 0.0, getattr(fn, "__name__", "reward")

    def __call__(self, *a, **k):
        t = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.seconds += time.perf_counter() - t


def constant_reward(prompts, completions, **kw) -> list[float]:
    return [1.0] * len(completions)


def one_run(model_dir: Path, cfg, dataset, reward, out: Path) -> tuple[list[float], list[float]]:
    from trl import GRPOTrainer

    from traitrl.models.organism import load_model

    model, tokenizer = load_model(model_dir)
    args = grpo_args(cfg.train, out)
    args.learning_rate = 0.0  # the policy stays fixed, so both arms of the bench sample the same rollouts
    args.save_strategy = "no"
    times = StepTimes()
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[times])
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return times.times[1:], times.lengths  # the first step pays one-off warm-up costs


def toy_organism(cfg, root: Path) -> Path:
    from tests.helpers.standin_corpus import toy_corpus
    from traitrl.models import build_organism

    return build_organism(cfg, root / "org", lambda: toy_corpus(cfg), show_progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="policy folder (default: runs/smoke_org if built, else a toy organism)")
    ap.add_argument("--config", default="configs/smoke.yaml")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    _quiet_trl()
    run_steps = load_config(a.config).train.steps  # a real run's length, to amortise the mixer over
    cfg = load_config(a.config, [f"train.steps={a.steps}", f"train.threads={a.threads}"])
    tmp = Path(tempfile.mkdtemp(prefix="bench_grpo-"))
    model = a.model or (Path("runs/smoke_org") if Path("runs/smoke_org/config.json").is_file() else None)
    if model is None:
        org_cfg = load_config(a.config, ["organism.hidden_size=64", "organism.num_layers=2", "organism.num_heads=2",
                                         "organism.steps=160", "organism.batch_size=8", "organism.max_length=128",
                                         "organism.learning_rate=1e-2", f"organism.threads={a.threads}"])
        model = toy_organism(org_cfg, tmp)

    rows = trait_scenarios(cfg, "train", cfg.scenarios.per_cell) + capability_tasks(cfg, "train", cfg.scenarios.capability_per_kind)
    t = time.perf_counter()
    mix = build_mix(rows, cfg.train, mix_size(cfg.train))
    dataset = mix.to_dataset()
    mix_s = time.perf_counter() - t

    ours_times: list[float] = []
    const_times: list[float] = []
    same_rollouts = True
    reward_s = {"ours": 0.0, "constant": 0.0}
    for rep in range(a.reps):
        router = Timed(make_router(WorldGrader(world_of(cfg))))
        const = Timed(constant_reward)
        t_ours, len_ours = one_run(model, cfg, dataset, router, tmp / f"ours{rep}")
        t_const, len_const = one_run(model, cfg, dataset, const, tmp / f"const{rep}")
        ours_times += t_ours
        const_times += t_const
        same_rollouts &= len_ours == len_const
        reward_s["ours"] += router.seconds
        reward_s["constant"] += const.seconds

    tc = cfg.train
    n_steps = a.reps * a.steps
    ours, base = statistics.mean(ours_times), statistics.mean(const_times)
    spread = (statistics.stdev(ours_times) ** 2 / len(ours_times) + statistics.stdev(const_times) ** 2 / len(const_times)) ** 0.5
    print(f"model {model}; {tc.per_device_batch} completions/step ({tc.per_device_batch // tc.num_generations} prompts x "
          f"{tc.num_generations}), max {tc.max_completion_length} tokens, {a.threads} thread(s), "
          f"{a.reps} x {a.steps} steps per side (first step of each run dropped)")
    print(f"GRPO step, constant reward : mean {base * 1e3:8.1f} ms  median {statistics.median(const_times) * 1e3:8.1f} ms")
    print(f"GRPO step, mixer + router  : mean {ours * 1e3:8.1f} ms  median {statistics.median(ours_times) * 1e3:8.1f} ms")
    print(f"same rollouts on both sides: {same_rollouts}")
    router_ms = (reward_s["ours"] - reward_s["constant"]) / n_steps * 1e3
    mixer_ms = mix_s / run_steps * 1e3
    print(f"time inside the reward fn  : ours {reward_s['ours'] / n_steps * 1e3:.2f} ms/step, "
          f"constant {reward_s['constant'] / n_steps * 1e3:.3f} ms/step")
    print(f"mixer (once per run)       : {mix_s * 1e3:.0f} ms for a {run_steps}-step run's mix = {mixer_ms:.2f} ms/step")
    direct = (router_ms + mixer_ms) / (base * 1e3)
    print(f"overhead, measured inside our code (router + graders + amortised mixer): {100 * direct:.2f} % of a step "
          f"(target <= 5 %)")
    print(f"overhead, end to end (step-time difference): {100 * (ours - base) / base:+.2f} % "
          f"+/- {100 * 2 * spread / base:.1f} % (2 standard errors: machine noise)")


if __name__ == "__main__":
    main()
