"""Serial against parallel wall time for the same set of stage jobs, measured in one run.

Builds a small organism once (the smoke profile, fewer pretraining steps), then runs the same
jobs — the paper arms at two RL seeds (GRPO, 20 steps each) and the held-out suite on each
trained arm —
twice into fresh run folders: one stage after another in this process, and on the local process
pool (`LocalExecutor`, one worker per core). Both use one torch thread per job, as `traitrl run`
does. Prints both wall times, the speed-up and whether the results are identical. Target: >= 1.7x
on 2 cores.

    python bench/bench_parallel.py [--workers 2] [--steps 20] [--seeds 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from traitrl.config import load_config
from traitrl.experiments import stages
from traitrl.experiments.executor import LocalExecutor, available_cores
from traitrl.experiments.stage import Call, Runner
from traitrl.train.arms import PAPER_ARMS

REPO = Path(__file__).resolve().parents[1]


def jobs(run: Runner, seeds: int) -> tuple[float, list]:
    """Organism and scenarios (cached, shared), then arms and evaluations: (seconds, results)."""
    data = run(stages.scenarios, "scenarios", dest="data")
    base = run(stages.organism, "organism", dest="organism", show_progress=False)
    t0 = time.perf_counter()
    arms = run.parallel([Call(stages.train_arm, f"train_{a}-s{s}", {"base": base, "data": data, "arm": a, "seed": s,
                                                                     "dest": f"arms/{a}-s{s}", "name": f"{a}-s{s}",
                                                                     "show_progress": False})
                         for a in PAPER_ARMS for s in range(seeds)], "arms")
    evals = run.parallel([Call(stages.evaluate, f"eval_{a.name}", {"model": a, "dest": f"evals/{a.name}.json",
                                                                   "show_progress": False}) for a in arms], "evals")
    return time.perf_counter() - t0, [a.model_dump(exclude={"wall_s"}) for a in arms] + [e.model_dump() for e in evals]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=available_cores())
    ap.add_argument("--steps", type=int, default=20, help="GRPO steps per arm")
    ap.add_argument("--seeds", type=int, default=2, help="RL seeds per arm (as the default study trains several)")
    args = ap.parse_args()
    cfg = load_config(REPO / "configs" / "smoke.yaml", [
        "organism.steps=120", f"train.steps={args.steps}", "train.checkpoint_every=100", "train.threads=1",
        "evals.threads=1", "evals.n_items=12",
        "train.max_unscored_rate=1"])  # a 120-step organism's rewards are mostly unscored; this times jobs
    root = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    try:
        shared = root / "shared"
        Runner(cfg, shared)(stages.organism, "organism", dest="organism", show_progress=False)
        times, outs = {}, {}
        for mode in ("serial", "parallel"):
            folder = root / mode
            shutil.copytree(shared, folder)  # the same organism (and its stage marker) for both
            executor = LocalExecutor(args.workers) if mode == "parallel" else None
            run = Runner(cfg, folder, executor)
            try:
                times[mode], outs[mode] = jobs(run, args.seeds)
            finally:
                run.close()
        n = len(PAPER_ARMS) * args.seeds
        print(f"jobs: {n} arm runs ({len(PAPER_ARMS)} arms x {args.seeds} seeds) of {args.steps} GRPO steps, then the "
              "suite on each (the workers' start-up included)")
        print(f"serial   {times['serial']:7.1f} s  (one stage after another, this process)")
        print(f"parallel {times['parallel']:7.1f} s  ({args.workers} workers)")
        print(f"speed-up {times['serial'] / times['parallel']:.2f}x   identical results: {outs['serial'] == outs['parallel']}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
