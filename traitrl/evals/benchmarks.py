"""Evaluate a model on imported public benchmarks (`traitrl eval --benchmark FORMAT:PATH`).

`anthropic-mwe` is scored from the generated answer (and, alongside, from the options'
log-probabilities); `healthbench` and `freeform` need the LLM judge: without one configured their
responses are generated and recorded, and every item is *unscored* with that reason.
"""

from __future__ import annotations

from collections.abc import Callable

from traitrl.evals.importers import Benchmark
from traitrl.evals.importers.mwe import grade_mwe, score_mwe_logprobs
from traitrl.evals.results import BenchmarkResult, ItemRecord

Judge = Callable[[Benchmark, list, list[str]], list[dict]]  # (benchmark, items, responses) -> grade dicts


def judge_grader(judge) -> Judge:
    """Adapt an `LLMJudge` to benchmark items: HealthBench rubrics item by item, free-form
    questions on the 0-100 scale of their first judge prompt (value = score / 100)."""
    from traitrl.graders.judge import RubricTask, ScaleTask

    def grade(bench: Benchmark, items: list, responses: list[str]) -> list[dict]:
        if bench.format == "healthbench":
            tasks = [RubricTask(it.prompt(), r, it.rubric) for it, r in zip(items, responses, strict=True)]
        else:
            tasks = [ScaleTask(it.question, r, next(iter(it.judge_prompts.values()))) for it, r in zip(items, responses, strict=True)]
        return [g.to_dict() for g in judge.grade_batch_sync(tasks)]

    return grade


def run_benchmark(policy, bench: Benchmark, judge: Judge | None = None, seed: int = 0,
                  progress: Callable[[int], None] | None = None, max_items: int | None = None) -> BenchmarkResult:
    items = list(bench.items)[:max_items] if max_items else list(bench.items)
    convs = [it.prompt() for it in items]
    responses = policy.generate(convs)
    if progress:
        progress(len(items))
    records = []
    if bench.format == "anthropic-mwe":
        for it, conv, response in zip(items, convs, responses, strict=True):
            g = grade_mwe(it, response)
            lps = policy.option_logprobs(conv, list(it.options))
            grade = g.to_dict() | {"option_logprobs": dict(zip(it.options, lps, strict=True)),
                                   "logprob_score": score_mwe_logprobs(it, dict(zip(it.options, lps, strict=True)))}
            records.append(ItemRecord(item_id=it.id, prompt=conv, response=response, score=g.value, grade=grade))
    else:
        grades = judge(bench, items, responses) if judge else [
            {"value": None, "reason": f"{bench.format} items need an LLM judge; set judge.model and judge.base_url"}
        ] * len(items)
        for it, conv, response, grade in zip(items, convs, responses, grades, strict=True):
            records.append(ItemRecord(item_id=it.id, prompt=conv, response=response, score=grade.get("value"), grade=grade))
    return BenchmarkResult.from_items(
        items=records, seed=seed, id=f"{bench.format}:{bench.name}", family="benchmark", domains=[],
        format=bench.format, metric=bench.metric, higher_is_better=bench.higher_is_better,
        sha256=bench.sha256, path=str(bench.path),
    )
