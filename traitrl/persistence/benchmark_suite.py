"""The configured benchmarks (`evals.benchmarks`) as the persistence experiments' eval suite.

A given policy (`policy.model`) does not speak the organism's world, so its persistence is scored
on the same benchmark files as its scoreboard: under English persona prompts (`personas.py`), and
after each dose of a fine-tuning attack. Each evaluation is one eval results file holding one
`BenchmarkResult` per benchmark, cached like the world suite's (`common.cached_results`).

`n_items` takes the first items of each file (None = every item), the same items for every model
and condition, so they pair by item id. A persona prompt is put into each item's conversation
before generation; judges see that conversation as the model did (HealthBench rubrics are graded
against it, free-form answers against the question alone).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from traitrl.config import Config
from traitrl.evals.importers import Benchmark, get_format
from traitrl.evals.results import BenchmarkResult, EvalResults
from traitrl.persistence.common import cached_results
from traitrl.persistence.personas import with_persona
from traitrl.scenarios.record import Message

HEALTH = "health"


def benchmark_id(bench: Benchmark) -> str:
    """A benchmark's eval id in results: FORMAT:FILE_STEM (what `run_benchmark` writes)."""
    return f"{bench.format}:{bench.name}"


def is_health(bench_id: str, fmt: str, config: Config) -> bool:
    """Whether a benchmark counts as a health eval: HealthBench files always, others when listed
    in `evals.health_benchmarks`."""
    return fmt == "healthbench" or bench_id in config.evals.health_benchmarks


def with_domains(result: BenchmarkResult, config: Config) -> BenchmarkResult:
    """A benchmark result tagged with the health domain where it counts as a health eval, so the
    scoreboard's health split and the attack's health subset agree."""
    if is_health(result.id, result.format, config) and HEALTH not in result.domains:
        return result.model_copy(update={"domains": [*result.domains, HEALTH]})
    return result


def load_benchmarks(specs: list[str]) -> list[Benchmark]:
    """Every configured benchmark, read and checked (a pinned sha256 included) before model work."""
    from traitrl.evals.importers import load_benchmark

    return [load_benchmark(s) for s in specs]


def pinned(bench: Benchmark) -> str:
    """The spec that names exactly the bytes loaded: FORMAT:PATH@sha256=HEX (a stage input, so a
    changed file changes every key that depends on it)."""
    return f"{bench.format}:{bench.path}@sha256={bench.sha256}"


class BenchmarkSuite:
    """The benchmarks, scored on one model under one persona condition at a time."""

    def __init__(self, config: Config, benches: list[Benchmark], n_items: int | None = None):
        if not benches:
            from traitrl.errors import UserError

            raise UserError("no benchmarks to score persistence on: list benchmark files in evals.benchmarks")
        self.config = config
        self.n_items = n_items
        self.benches = [self._first(b) for b in benches]
        self._judge = None

    def _first(self, bench: Benchmark) -> Benchmark:
        if self.n_items is None or self.n_items >= bench.n_items:
            return bench
        return bench.model_copy(update={"items": bench.items[: self.n_items], "n_items": self.n_items})

    @property
    def ids(self) -> list[str]:
        return [benchmark_id(b) for b in self.benches]

    def health_ids(self) -> list[str]:
        return [benchmark_id(b) for b in self.benches if is_health(benchmark_id(b), b.format, self.config)]

    def n_prompts(self) -> int:
        return sum(b.n_items for b in self.benches)

    def key(self) -> list:
        """What decides the items and their grading: the files' hashes, the item cap, the judge."""
        judge = self.config.judge.settings() if self.config.judge is not None else None
        return [[pinned(b) for b in self.benches], self.n_items, judge, self.config.evals.health_benchmarks]

    def _grader(self):
        from traitrl.evals.benchmarks import judge_grader

        if self.config.judge is None or not any(get_format(b.format).needs_judge for b in self.benches):
            return None
        if self._judge is None:
            from traitrl.graders.judge import LLMJudge

            self._judge = LLMJudge(self.config.judge)
        return judge_grader(self._judge)

    def evaluate(self, policy: Callable, model_name: str, persona: Callable[[str], str | None], path: Path,
                 key: str, advance: Callable[[int], None]) -> EvalResults:
        """Every benchmark on the model from `policy()` (loaded only when not cached), each item under
        `persona(item_id)` (None = no system prompt), cached in `path` under `key`."""
        return cached_results(path, key, lambda: advance(self.n_prompts()),
                              lambda: self._run(policy(), model_name, persona, advance))

    def _run(self, policy, model_name: str, persona: Callable[[str], str | None],
             advance: Callable[[int], None]) -> EvalResults:
        from traitrl.evals.benchmarks import run_benchmark

        grader = self._grader()
        seed = self.config.evals.sampling.seed
        results = []
        for bench in self.benches:
            steered = bench.model_copy(update={"items": tuple(_steer(it, persona(it.id)) for it in bench.items)})
            results.append(with_domains(run_benchmark(policy, steered, judge=grader, seed=seed, progress=advance),
                                        self.config))
        meta: dict = {"sampling": self.config.evals.sampling.model_dump(), "n_items": self.n_items}
        if self._judge is not None and self.config.judge is not None:
            meta["judge"] = {**self.config.judge.settings(), **self._judge.stats()}
        return EvalResults(model=model_name, config_hash=self.config.hash("evals"), seed=seed, benchmarks=results,
                           meta=meta)


def _steer(item, prompt: str | None):
    """The item with the persona prompt in its conversation (the item itself without one)."""
    if prompt is None:
        return item
    return item.model_copy(update={"messages": tuple(Message(**m) for m in with_persona(item.prompt(), prompt))})
