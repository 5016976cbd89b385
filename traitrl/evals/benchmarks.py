"""Evaluate a model on imported public benchmarks (`traitrl eval --benchmark FORMAT:PATH`).

Each registered format says how its items are scored (`traitrl.evals.importers.base.Format`):
from the generated answer (`anthropic-mwe`, with the options' log-probabilities alongside), or by
the LLM judge (`healthbench`, `freeform`): without a judge configured, those responses are
generated and recorded, and every item is *unscored* with that reason.
"""

from __future__ import annotations

from collections.abc import Callable

from traitrl.evals.importers import Benchmark, get_format
from traitrl.evals.results import BenchmarkResult, ItemRecord

Judge = Callable[[Benchmark, list, list[str]], list[dict]]  # (benchmark, items, responses) -> grade dicts


def judge_grader(judge) -> Judge:
    """Adapt an `LLMJudge` to benchmark items: each format's `judge_task` builds the task (HealthBench
    rubrics item by item, free-form questions on the 0-100 scale of their first judge prompt)."""

    def grade(bench: Benchmark, items: list, responses: list[str]) -> list[dict]:
        task = get_format(bench.format).judge_task
        assert task is not None, f"{bench.format} items are not judged"
        return [g.to_dict() for g in judge.grade_batch_sync([task(it, r) for it, r in zip(items, responses, strict=True)])]

    return grade


def run_benchmark(policy, bench: Benchmark, judge: Judge | None = None, seed: int = 0,
                  progress: Callable[[int], None] | None = None, max_items: int | None = None) -> BenchmarkResult:
    fmt = get_format(bench.format)
    items = list(bench.items)[:max_items] if max_items else list(bench.items)
    convs = [it.prompt() for it in items]
    responses = policy.generate(convs)
    if progress:
        progress(len(items))
    if fmt.local_grade is not None:
        grades = [fmt.local_grade(policy, it, conv, r) for it, conv, r in zip(items, convs, responses, strict=True)]
    elif judge is not None:
        grades = judge(bench, items, responses)
    else:
        grades = [{"value": None, "reason": f"{bench.format} items need an LLM judge; set judge.model and judge.base_url"}] * len(items)
    records = [ItemRecord(item_id=it.id, prompt=conv, response=response, score=grade.get("value"), grade=grade)
               for it, conv, response, grade in zip(items, convs, responses, grades, strict=True)]
    return BenchmarkResult.from_items(
        items=records, seed=seed, id=f"{bench.format}:{bench.name}", family="benchmark", domains=[],
        format=bench.format, metric=bench.metric, higher_is_better=bench.higher_is_better,
        sha256=bench.sha256, path=str(bench.path),
    )
