"""Benchmarks that another eval framework runs: `KIND:REF` specs beside the `FORMAT:PATH` files.

A benchmark file is parsed into items that traitrl generates for and grades; an external
benchmark (an inspect_ai task) brings its own dataset, solvers and scorers, so traitrl hands it
the model and reads back one record per sample. A kind is registered under the prefix users
write (`inspect:`): `check` reads a spec's syntax (when a config loads), `load` checks the task
before any model work, `pin` names the loaded code by its hash (a stage input), and `run`
evaluates a model folder and returns a `BenchmarkResult` that pairs with other runs by item id
like any benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitrl.config import Config
from traitrl.evals.results import BenchmarkResult

# (checked task, model folder, config, log folder, system message, limit) -> result
Run = Callable[[Any, Path, Config, Path, "str | None", "int | None"], BenchmarkResult]
Load = Callable[..., Any]  # (spec, base_dir=None) -> checked task with an `eval_id`; UserError if unusable
Check = Callable[[str], Any]  # spec -> anything; UserError if the syntax is wrong (no file is read)
Pin = Callable[[Any], str]  # checked task -> the spec naming its code's sha256


@dataclass(frozen=True)
class ExternalKind:
    prefix: str
    load: Load
    run: Run
    description: str
    check: Check
    pin: Pin


_KINDS: dict[str, ExternalKind] = {}


def register_external(prefix: str, *, load: Load, run: Run, description: str, check: Check, pin: Pin) -> None:
    if prefix in _KINDS:
        raise ValueError(f"external benchmark kind {prefix!r} is already registered")
    _KINDS[prefix] = ExternalKind(prefix, load, run, description, check, pin)


def external_kind(spec: str) -> ExternalKind | None:
    """The registered kind a spec names by its prefix, or None for a benchmark file spec."""
    return _KINDS.get(spec.partition(":")[0])


@dataclass(frozen=True)
class ExternalBenchmark:
    """A checked external spec, ready to run on any model."""

    spec: str
    kind: ExternalKind
    task: Any

    @property
    def eval_id(self) -> str:
        return self.task.eval_id

    @property
    def pinned(self) -> str:
        """The spec with the hash of the code that was loaded (`@sha256=`): what stage keys hold."""
        return self.kind.pin(self.task)

    def run(self, model_dir: str | Path, config: Config, log_dir: str | Path,
            system_message: str | None = None, limit: int | None = None) -> BenchmarkResult:
        """The benchmark on a model folder; `system_message` is sent first (a persona condition),
        `limit` keeps the first samples only (None = every sample)."""
        return self.kind.run(self.task, Path(model_dir), config, Path(log_dir), system_message, limit)


def load_external(spec: str, *, base_dir: Path | None = None) -> ExternalBenchmark:
    kind = external_kind(spec)
    if kind is None:
        raise ValueError(f"{spec!r} names no external benchmark kind")
    return ExternalBenchmark(spec, kind, kind.load(spec, base_dir=base_dir))


def check_external(spec: str) -> None:
    """An external spec's syntax only (no file read, no framework imported): UserError if wrong."""
    kind = external_kind(spec)
    if kind is None:
        raise ValueError(f"{spec!r} names no external benchmark kind")
    kind.check(spec)


def split_benchmarks(specs: Sequence[str], *, base_dir: Path | None = None) -> tuple[list[ExternalBenchmark], list[str]]:
    """The external specs (checked) and the benchmark-file specs (left for `load_benchmark`)."""
    external = [load_external(s, base_dir=base_dir) for s in specs if external_kind(s) is not None]
    return external, [s for s in specs if external_kind(s) is None]


def log_dir_for(results_file: str | Path, kind: str) -> Path:
    """Where an external framework's own logs go: beside the results file they feed."""
    p = Path(results_file)
    return p.parent / f"{p.stem}.{kind}-logs"


from traitrl.evals import inspect_bridge  # noqa: E402  (registers the inspect: kind)

register_external(inspect_bridge.PREFIX, load=inspect_bridge.load_inspect_task, run=inspect_bridge.run_for_model,
                  description="an inspect_ai task: inspect:TASK_FILE.py[@TASK] or inspect:MODULE:TASK",
                  check=inspect_bridge.parse_inspect_spec, pin=inspect_bridge.pinned_spec)
