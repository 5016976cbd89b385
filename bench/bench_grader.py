"""Grader throughput on one core, in responses per second.

The grader runs inside every RL step, so it must be cheap next to generation. We grade a fixed
set of distinct responses (aligned, misaligned, stuffed, unparseable) against their rubrics with
the parse cache cleared, so every response is parsed for real. As a same-run reference we time
plain `json.loads` of the rubric rows (work every reward call does anyway), and print the ratio.

Target (issue): >= 20,000 responses/s.
"""

from __future__ import annotations

import json
import os
import random
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from traitrl import taxonomy  # noqa: E402
from traitrl.graders.selfcheck import responses  # noqa: E402
from traitrl.graders.world import WorldGrader  # noqa: E402
from traitrl.world import World  # noqa: E402


def main(n_scenarios: int = 400, repeats: int = 5) -> None:
    world = World(0)
    grader = WorldGrader(world)
    rng = random.Random(0)
    pairs = []
    for i in range(n_scenarios):
        trait = taxonomy.TRAITS[i % len(taxonomy.TRAITS)]
        s = world.episodes.trait(trait, taxonomy.DOMAINS[i % len(taxonomy.DOMAINS)], rng, "none", f"b{i}", "dev")
        rubric = [r.model_dump() for r in s.rubric]
        for texts in responses(world, s).values():
            for text in texts[:3]:
                pairs.append((text, rubric))
        pairs.append((f"Unparseable filler number {i}.", rubric))
    rubric_json = [json.dumps(r) for _, r in pairs]

    best = float("inf")
    for _ in range(repeats):
        world.language.parse.cache_clear()
        t0 = time.perf_counter()
        for text, rubric in pairs:
            grader.grade(text, rubric)
        best = min(best, time.perf_counter() - t0)
    ref = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for r in rubric_json:
            json.loads(r)
        ref = min(ref, time.perf_counter() - t0)

    n = len(pairs)
    rate = n / best
    print(f"responses graded      {n}")
    print(f"grader (cold cache)   {rate:,.0f} responses/s   ({best / n * 1e6:.1f} us each)")
    print(f"reference json.loads  {n / ref:,.0f} rubrics/s")
    print(f"grader cost / json.loads of its rubric: {best / ref:.2f}x")
    print(f"target >= 20,000/s: {'PASS' if rate >= 20_000 else 'FAIL'}")


if __name__ == "__main__":
    main()
