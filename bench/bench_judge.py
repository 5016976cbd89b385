"""Judge throughput and cache reuse against the local fault server (no network beyond loopback).

Starts `tests.helpers.fault_server` with a fixed per-request latency (20 ms by default, so
concurrency matters as it does with a real endpoint), then:

1. grades N 0-100 scale items (one request each) with `max_concurrency` 1 and 16, no cache,
   and reports judge calls per second and the speed-up (issue 8 asks for >= 5x at 16);
2. grades the same items twice with a cache directory and reports the rerun's cache hit rate
   (expected 100 %) and the number of requests the server saw during the rerun (expected 0).

    .venv/bin/python bench/bench_judge.py [--n 200] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.helpers

from tests.helpers.fault_server import FaultServer  # noqa: E402
from traitrl.graders.judge import JudgeConfig, LLMJudge, ScaleTask  # noqa: E402


def _config(server: FaultServer, concurrency: int, cache_dir: str | None = None) -> JudgeConfig:
    return JudgeConfig(
        base_url=server.base_url,
        model="bench-judge",
        api_key_env=None,
        max_concurrency=concurrency,
        timeout_s=10,
        max_retries=0,
        cache_dir=cache_dir,
    )


def throughput(server: FaultServer, tasks: list[ScaleTask], concurrency: int) -> tuple[float, int]:
    judge = LLMJudge(_config(server, concurrency))
    judge.grade_batch_sync(tasks[:4])  # warm up imports and the connection pool
    start = time.perf_counter()
    grades = LLMJudge(_config(server, concurrency)).grade_batch_sync(tasks)
    elapsed = time.perf_counter() - start
    assert all(g.scored for g in grades), "the bench server injects no faults"
    return len(tasks) / elapsed, server.max_inflight


def cache_rerun(server: FaultServer, tasks: list[ScaleTask]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as cache_dir:
        LLMJudge(_config(server, 16, cache_dir)).grade_batch_sync(tasks)
        before = server.requests
        judge = LLMJudge(_config(server, 16, cache_dir))
        judge.grade_batch_sync(tasks)
        stats = judge.stats()
    return stats["cache_hits"] / stats["requests"], server.requests - before


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="scale items (= judge calls) per run")
    parser.add_argument(
        "--latency-ms", type=float, default=20.0, help="server latency added to every request"
    )
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    with FaultServer(latency_s=args.latency_ms / 1000, lifetime_s=600) as server:
        rates = {}
        for c in (1, 16):
            tasks = [ScaleTask(f"bench question {c}-{i}?", f"answer {i}") for i in range(args.n)]
            server.max_inflight = 0
            rates[c], peak = throughput(server, tasks, c)
            rows.append(
                (
                    f"calls/s at concurrency {c:>2}",
                    f"{rates[c]:8.1f}   (server saw {peak} in flight)",
                )
            )
        rows.append(("speed-up 16 vs 1", f"{rates[16] / rates[1]:8.1f}x"))
        tasks = [ScaleTask(f"cache question {i}?", f"answer {i}") for i in range(args.n)]
        hit_rate, new_requests = cache_rerun(server, tasks)
        rows.append(("cache hit rate on rerun", f"{hit_rate:8.1%}"))
        rows.append(("server requests on rerun", f"{new_requests:8d}"))

    print(f"judge bench: n={args.n} calls per run, server latency {args.latency_ms:g} ms, loopback")
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 30}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
