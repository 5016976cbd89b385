"""The configured benchmarks (`evals.benchmarks`) as the persistence experiments' eval suite.

A given policy (`policy.model`) does not speak the organism's world, so its persistence is scored
on the same benchmarks as its scoreboard: under English persona prompts (`personas.py`), and
after each dose of a fine-tuning attack. Each evaluation is one eval results file holding one
`BenchmarkResult` per benchmark, cached like the world suite's (`common.cached_results`).

The benchmarks are files (`FORMAT:PATH`, generated and graded here) and external tasks
(`inspect:TASK_FILE.py@TASK`, run by inspect_ai on the model folder, its logs beside the results
file). `n_items` takes the first items of each (None = every item), the same items for every
model and condition, so they pair by item id. A persona prompt is put into each file item's
conversation before generation; judges see that conversation as the model did (HealthBench
rubrics are graded against it, free-form answers against the question alone). An inspect task
gets its persona as the system message of the whole run: one prompt of the condition's list per
task (drawn by the task's eval id), where a file's items each draw their own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from traitrl.config import Config
from traitrl.evals.external import ExternalBenchmark
from traitrl.evals.importers import Benchmark, get_format
from traitrl.evals.results import BenchmarkResult, EvalResults
from traitrl.persistence.common import cached_results
from traitrl.persistence.personas import with_persona
from traitrl.scenarios.record import Message

# () -> a context giving the evaluated model as a plain Hugging Face folder (what inspect loads)
ModelFolder = Callable[[], AbstractContextManager[Path]]

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


@dataclass(frozen=True)
class SuiteInputs:
    """The configured benchmarks, checked: the files read and hashed, the external tasks loaded."""

    files: list[Benchmark] = field(default_factory=list)
    external: list[ExternalBenchmark] = field(default_factory=list)

    @property
    def pinned(self) -> list[str]:
        """Every spec content-pinned (`@sha256=`), in the configured order of files then tasks:
        stage inputs, so a changed file or task file changes every key that reads it."""
        return [pinned(b) for b in self.files] + [e.pinned for e in self.external]

    def __bool__(self) -> bool:
        return bool(self.files or self.external)


def load_suite(specs: list[str]) -> SuiteInputs:
    """Every configured benchmark, read and checked (a pinned sha256 included) before model work:
    benchmark files and external (inspect:) tasks alike; relative paths from the working directory."""
    from traitrl.evals.external import split_benchmarks
    from traitrl.evals.importers import load_benchmark

    external, files = split_benchmarks(specs)
    return SuiteInputs(files=[load_benchmark(s) for s in files], external=external)


def pinned(bench: Benchmark) -> str:
    """The spec that names exactly the bytes loaded: FORMAT:PATH@sha256=HEX (a stage input, so a
    changed file changes every key that depends on it)."""
    return f"{bench.format}:{bench.path}@sha256={bench.sha256}"


class BenchmarkSuite:
    """The benchmarks, scored on one model under one persona condition at a time."""

    def __init__(self, config: Config, benches: list[Benchmark] | SuiteInputs, n_items: int | None = None):
        inputs = benches if isinstance(benches, SuiteInputs) else SuiteInputs(files=list(benches))
        if not inputs:
            from traitrl.errors import UserError

            raise UserError("no benchmarks to score persistence on: list benchmark files or inspect: tasks in "
                            "evals.benchmarks")
        self.config = config
        self.n_items = n_items
        self.benches = [self._first(b) for b in inputs.files]
        self.external = list(inputs.external)
        self._judge = None

    def _first(self, bench: Benchmark) -> Benchmark:
        if self.n_items is None or self.n_items >= bench.n_items:
            return bench
        return bench.model_copy(update={"items": bench.items[: self.n_items], "n_items": self.n_items})

    @property
    def ids(self) -> list[str]:
        return [benchmark_id(b) for b in self.benches] + [e.eval_id for e in self.external]

    def health_ids(self) -> list[str]:
        return ([benchmark_id(b) for b in self.benches if is_health(benchmark_id(b), b.format, self.config)]
                + [e.eval_id for e in self.external if is_health(e.eval_id, e.kind.prefix, self.config)])

    def n_prompts(self) -> int:
        """Items generated per evaluation, for progress (an external task's are counted as `n_items`,
        or not at all without a cap: its size is known once it ran)."""
        return sum(b.n_items for b in self.benches) + len(self.external) * (self.n_items or 0)

    def largest(self) -> int:
        """Items in the largest benchmark file (the cap, with external tasks only)."""
        return max((b.n_items for b in self.benches), default=self.n_items or 0)

    def key(self) -> list:
        """What decides the items and their grading: the files' and task files' hashes, the item
        cap, the judge, the health list, and who answers the external tasks."""
        judge = self.config.judge.settings() if self.config.judge is not None else None
        key = [[pinned(b) for b in self.benches], self.n_items, judge, self.config.evals.health_benchmarks]
        if self.external:  # appended, so a files-only suite keeps the keys it had
            key.append([[e.pinned for e in self.external], self.config.evals.inspect.model_dump(mode="json")])
        return key

    def _grader(self):
        from traitrl.evals.benchmarks import judge_grader

        if self.config.judge is None or not any(get_format(b.format).needs_judge for b in self.benches):
            return None
        if self._judge is None:
            from traitrl.graders.judge import LLMJudge

            self._judge = LLMJudge(self.config.judge)
        return judge_grader(self._judge)

    def evaluate(self, policy: Callable, model_name: str, persona: Callable[[str], str | None], path: Path,
                 key: str, advance: Callable[[int], None], folder: ModelFolder | None = None) -> EvalResults:
        """Every benchmark on the model from `policy()` (loaded only when not cached and a file needs
        it), each file item under `persona(item_id)` and each external task under `persona(eval_id)`
        (None = no system prompt), cached in `path` under `key`. External tasks run on `folder()`,
        their logs beside `path`."""
        return cached_results(path, key, lambda: advance(self.n_prompts()),
                              lambda: self._run(policy, model_name, persona, advance, path, folder))

    def _run(self, policy: Callable, model_name: str, persona: Callable[[str], str | None],
             advance: Callable[[int], None], path: Path, folder: ModelFolder | None) -> EvalResults:
        from traitrl.evals.benchmarks import run_benchmark
        from traitrl.evals.external import log_dir_for

        seed = self.config.evals.sampling.seed
        results = []
        if self.external:  # inspect loads its own copy of the model: before ours is in memory
            if folder is None:
                raise ValueError("external benchmarks need the model's folder")
            with folder() as model_dir:
                for e in self.external:
                    ran = e.run(model_dir, self.config, log_dir_for(path, e.kind.prefix),
                                system_message=persona(e.eval_id), limit=self.n_items)
                    advance(len(ran.items))
                    results.append(with_domains(ran, self.config))
        grader = self._grader()
        loaded = policy() if self.benches else None
        for bench in self.benches:
            steered = bench.model_copy(update={"items": tuple(_steer(it, persona(it.id)) for it in bench.items)})
            results.append(with_domains(run_benchmark(loaded, steered, judge=grader, seed=seed, progress=advance),
                                        self.config))
        meta: dict = {"sampling": self.config.evals.sampling.model_dump(), "n_items": self.n_items}
        if self._judge is not None and self.config.judge is not None:
            meta["judge"] = {**self.config.judge.settings(), **self._judge.stats()}
        return EvalResults(model=model_name, config_hash=self.config.hash("evals"), seed=seed,
                           benchmarks=self._ordered(results), meta=meta)

    def _ordered(self, results: list[BenchmarkResult]) -> list[BenchmarkResult]:
        """Files first, then external tasks: the order of `ids`, whatever order they ran in."""
        order = {i: k for k, i in enumerate(self.ids)}
        return sorted(results, key=lambda r: order.get(r.id, len(order)))


def _steer(item, prompt: str | None):
    """The item with the persona prompt in its conversation (the item itself without one)."""
    if prompt is None:
        return item
    return item.model_copy(update={"messages": tuple(Message(**m) for m in with_persona(item.prompt(), prompt))})
