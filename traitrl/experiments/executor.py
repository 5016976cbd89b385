"""Run independent stage jobs at once: a local process pool over the cores by default, Ray for a
cluster. Either way a job runs the same stage function under the same derived key and writes the
same marker into the run folder, so results, cache and resume do not depend on the backend.

A job whose worker dies (killed, out of memory) is rerun, a bounded number of times; a job that
raises fails the whole batch with its error, never silently.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traitrl.config import Config
from traitrl.errors import UserError


@dataclass(frozen=True)
class Job:
    """One stage call: the stage function, its marker label, its config, key and inputs."""

    fn: Callable[..., Any]
    label: str
    config: Config
    key: str
    inputs: dict[str, Any] = field(default_factory=dict)


def run_job(root: str, job: Job, threads: int = 1, quiet: bool = True) -> tuple[dict, float]:
    """Execute `job` in this process and write its marker: (outputs, seconds). Module level, so a
    pool or Ray worker can import it by name. `threads` = 0 leaves torch's threads as they are;
    `quiet` turns off the stage's own progress bars (workers cannot share one display)."""
    from traitrl.experiments.cache import StageCache
    from traitrl.experiments.stage import StageContext

    if threads:
        import torch

        torch.set_num_threads(threads)
    cache = StageCache(Path(root))
    ctx = StageContext(job.config, Path(root), job.key)
    quiet = quiet and "show_progress" in _params(job.fn)
    inputs = {**job.inputs, "show_progress": False} if quiet else job.inputs
    outputs = cache.run(job.label, job.key,
                        lambda: job.fn(ctx, **inputs).model_dump(mode="json", exclude={"key"}))
    return outputs, cache.timings[job.label]


def _params(fn: Callable[..., Any]) -> set[str]:
    import inspect

    return set(inspect.signature(fn).parameters)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class LocalExecutor:
    """A process pool (spawned workers, one torch thread each) over `workers` cores."""

    name = "local"

    def __init__(self, workers: int = 0, retries: int = 2, threads: int = 1):
        self.workers = workers or available_cores()
        self.retries = retries
        self.threads = threads
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"))

    def run(self, root: Path, jobs: list[Job], on_done: Callable[[Job, float], None]) -> list[dict]:
        """Outputs of every job, in order. Dead workers' jobs are resubmitted on a new pool."""
        results: dict[int, dict] = {}
        attempts = dict.fromkeys(range(len(jobs)), 0)
        pending = set(range(len(jobs)))
        while pending:
            pool = self._pool = self._pool or self._new_pool()
            futures: dict[Future, int] = {pool.submit(run_job, str(root), jobs[i], self.threads): i for i in pending}
            try:
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = futures.pop(fut)
                        outputs, seconds = fut.result()
                        results[i] = outputs
                        pending.discard(i)
                        on_done(jobs[i], seconds)
            except BrokenProcessPool:
                self.shutdown()
                for i in pending:
                    attempts[i] += 1
                    if attempts[i] > self.retries:
                        raise RuntimeError(f"stage {jobs[i].label}: its worker died {attempts[i]} times") from None
            except BaseException:
                for fut in futures:
                    fut.cancel()
                self.shutdown()
                raise
        return [results[i] for i in range(len(jobs))]

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Ray tasks on a local instance or a cluster; Ray reruns a task whose worker died."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_job: float = 1.0, retries: int = 2,
                 num_cpus: int | None = None, threads: int = 1):
        try:
            import ray
        except ImportError:
            raise UserError("run.backend: ray needs the ray package (pip install 'traitrl[ray]')") from None
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = num_cpus or available_cores()
            ray.init(**kwargs)
        self._task = ray.remote(run_job).options(num_cpus=cpus_per_job, max_retries=retries)
        self.threads = threads

    def run(self, root: Path, jobs: list[Job], on_done: Callable[[Job, float], None]) -> list[dict]:
        refs = {self._task.remote(str(root), job, self.threads): i for i, job in enumerate(jobs)}
        results: dict[int, dict] = {}
        waiting = list(refs)
        while waiting:
            done, waiting = self.ray.wait(waiting, num_returns=1)
            i = refs[done[0]]
            try:
                outputs, seconds = self.ray.get(done[0])
            except self.ray.exceptions.RayTaskError as e:
                for ref in waiting:
                    self.ray.cancel(ref)
                raise e.as_instanceof_cause() from None
            results[i] = outputs
            on_done(jobs[i], seconds)
        return [results[i] for i in range(len(jobs))]

    def shutdown(self) -> None:
        pass  # the Ray instance outlives one run (a cluster, or a test's local instance)


def make_executor(config: Config):
    """The executor the run section asks for (None = run every stage in this process)."""
    rc = config.run
    if rc.backend == "ray":
        return RayExecutor(rc.ray_address, rc.cpus_per_job)
    workers = rc.workers or available_cores()
    return LocalExecutor(workers) if workers > 1 else None
