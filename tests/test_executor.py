"""The executor: independent stages on a process pool give the results they give in-process; a
killed worker's job is rerun; a failing job fails the batch with its own error."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from traitrl.config import load_config
from traitrl.experiments.executor import LocalExecutor
from traitrl.experiments.stage import Call, Runner, StageResult, stage


class Square(StageResult):
    value: int
    pid: int


@stage("test_square", version=1, config=(), code=(), result=Square)
def square(ctx, *, n: int, die_once: str | None = None, fail: bool = False) -> Square:
    if fail:
        raise ValueError(f"job {n} failed on purpose")
    if die_once is not None and not Path(die_once).exists():
        Path(die_once).write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-job, as under the OOM killer
    return Square(value=n * n, pid=os.getpid())


def _values(results) -> list[int]:
    return [r.value for r in results]


def test_pool_results_match_in_process_results_and_use_other_processes(tmp_path):
    cfg = load_config(None)
    calls = [Call(square, f"sq{n}", {"n": n}) for n in range(5)]
    here = Runner(cfg, tmp_path / "serial").parallel(calls)
    pool = Runner(cfg, tmp_path / "pool", LocalExecutor(2, threads=0))
    try:
        there = pool.parallel(calls)
    finally:
        pool.close()
    assert _values(here) == _values(there) == [0, 1, 4, 9, 16]
    assert [r.key for r in here] == [r.key for r in there]
    assert {r.pid for r in here} == {os.getpid()} and os.getpid() not in {r.pid for r in there}
    # a second pass reads every marker: nothing runs again
    again = Runner(cfg, tmp_path / "pool", LocalExecutor(2, threads=0)).parallel(calls)
    assert [r.pid for r in again] == [r.pid for r in there]


def test_a_killed_worker_job_is_rerun(tmp_path):
    cfg = load_config(None)
    flag = tmp_path / "died"
    calls = [Call(square, "victim", {"n": 3, "die_once": str(flag)}), Call(square, "other", {"n": 4})]
    run = Runner(cfg, tmp_path / "run", LocalExecutor(2, threads=0))
    try:
        results = run.parallel(calls)
    finally:
        run.close()
    assert flag.read_text() == "died"  # the first attempt really was killed
    assert _values(results) == [9, 16]
    assert (tmp_path / "run" / "stages" / "victim.json").is_file()


def test_a_failing_job_fails_the_batch_with_its_error(tmp_path):
    cfg = load_config(None)
    calls = [Call(square, "ok", {"n": 2}), Call(square, "bad", {"n": 7, "fail": True})]
    run = Runner(cfg, tmp_path / "run", LocalExecutor(2, threads=0))
    with pytest.raises(ValueError, match="job 7 failed on purpose"):
        try:
            run.parallel(calls)
        finally:
            run.close()
    assert not (tmp_path / "run" / "stages" / "bad.json").exists()


def test_ray_gives_the_local_pool_results(tmp_path):
    ray = pytest.importorskip("ray")
    from traitrl.experiments.executor import RayExecutor

    cfg = load_config(None)
    calls = [Call(square, f"sq{n}", {"n": n}) for n in range(4)]
    here = Runner(cfg, tmp_path / "serial").parallel(calls)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        there = Runner(cfg, tmp_path / "ray", RayExecutor(threads=0)).parallel(calls)
        assert _values(here) == _values(there) and [r.key for r in here] == [r.key for r in there]
        assert os.getpid() not in {r.pid for r in there}
        with pytest.raises(ValueError, match="job 5 failed on purpose"):
            Runner(cfg, tmp_path / "ray", RayExecutor(threads=0)).parallel(
                [Call(square, "bad", {"n": 5, "fail": True}), Call(square, "ok", {"n": 1})])
    finally:
        ray.shutdown()
