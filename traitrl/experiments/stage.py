"""Stages: typed functions that declare what they depend on, so their cache keys are derived.

A stage is a plain function `fn(ctx, **inputs) -> StageResult` decorated with `@stage(...)`,
which declares the config sections it reads and the packages whose code it runs. Its key is the
hash of its name and version, those config sections, the code's source, the keys of the upstream
results among its inputs, and its other inputs. `traitrl run` calls stages through a `Runner`
(cached in the run folder); every CLI command calls the same function through `call` (no cache,
same key, so a training run can still resume from its own checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from traitrl.config import Config
from traitrl.experiments.cache import StageCache, code_fingerprint, digest


class StageResult(BaseModel):
    """What a stage returns. `key` is the stage's derived key, set by whoever ran it; paths in a
    result are relative to the run folder, so a run folder can be moved and still resume."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str = ""


R = TypeVar("R", bound=StageResult)


@dataclass(frozen=True)
class StageSpec:
    name: str
    version: int
    config: tuple[str, ...]  # dotted config paths the stage reads, e.g. "evals.sampling"
    code: tuple[str, ...]  # packages whose source decides the stage's output
    result: type[StageResult]


@dataclass(frozen=True)
class StageContext:
    """What every stage gets: the config, the run folder its paths are relative to, its key."""

    config: Config
    root: Path
    key: str

    def path(self, rel: str | Path) -> Path:
        return self.root / rel


STAGES: dict[str, StageSpec] = {}


def stage(name: str, *, version: int, config: tuple[str, ...], code: tuple[str, ...],
          result: type[StageResult]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Register a stage function under `name` with its declared dependencies."""

    def register(fn: Callable[..., R]) -> Callable[..., R]:
        if name in STAGES:
            raise ValueError(f"stage {name!r} is defined twice")
        spec = StageSpec(name, version, tuple(config), tuple(code), result)
        STAGES[name] = spec
        fn.spec = spec  # type: ignore[attr-defined]
        return fn

    return register


def _config_part(config: Config, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node.model_dump(mode="json") if isinstance(node, BaseModel) else node


def _input_key(value: Any) -> Any:
    if isinstance(value, StageResult):
        if not value.key:
            raise ValueError(f"{type(value).__name__} has no key: it was not produced by a stage")
        return value.key
    if isinstance(value, list | tuple):
        return [_input_key(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _input_key(v) for k, v in value.items()}
    if isinstance(value, Path):
        return value.as_posix()
    return value


# Inputs that say where outputs go or how they are shown, not what they are.
UNKEYED = frozenset({"dest", "show_progress", "restart_stale"})


def derive_key(spec: StageSpec, config: Config, inputs: dict[str, Any]) -> str:
    """The one way a stage key is made."""
    return digest({
        "stage": spec.name,
        "version": spec.version,
        "code": {p: code_fingerprint(p) for p in spec.code},
        "config": {c: _config_part(config, c) for c in spec.config},
        "inputs": {k: _input_key(v) for k, v in sorted(inputs.items()) if k not in UNKEYED},
    })


def call(fn: Callable[..., R], config: Config, root: Path, **inputs: Any) -> R:
    """Run a stage without the cache (what CLI commands do); its result carries its key."""
    key = derive_key(fn.spec, config, inputs)  # type: ignore[attr-defined]
    result = fn(StageContext(config, Path(root), key), **inputs)
    return result.model_copy(update={"key": key})


@dataclass(frozen=True)
class Call:
    """A stage call for `Runner.parallel`: function, marker label, inputs, optional config."""

    fn: Callable[..., StageResult]
    label: str
    inputs: dict[str, Any]
    config: Config | None = None


class Runner:
    """Runs stages for one run folder, each at most once per key (see `cache.StageCache`);
    `parallel` hands independent ones to an executor (`executor.py`)."""

    def __init__(self, config: Config, root: Path, executor: Any = None, peers: tuple[Path, ...] = ()):
        self.config = config
        self.root = Path(root)
        self.cache = StageCache(self.root)
        self.executor = executor
        self.peers = tuple(Path(p) for p in peers if Path(p) != self.root)  # folders whose stages may be adopted

    def _adopt(self, label: str, key: str, inputs: dict[str, Any]) -> None:
        if self.peers:
            self.cache.adopt(self.peers, label, key, inputs.get("dest"))

    def __call__(self, fn: Callable[..., R], label: str, *, config: Config | None = None, **inputs: Any) -> R:
        spec: StageSpec = fn.spec  # type: ignore[attr-defined]
        cfg = config or self.config
        key = derive_key(spec, cfg, inputs)

        def compute() -> dict:
            return fn(StageContext(cfg, self.root, key), **inputs).model_dump(mode="json", exclude={"key"})

        self._adopt(label, key, inputs)
        outputs = self.cache.run(label, key, compute)
        return spec.result.model_validate({**outputs, "key": key})  # type: ignore[return-value]

    def parallel(self, calls: list[Call], description: str = "stages") -> list[StageResult]:
        """Results of independent stage calls, in order: cached ones are read, the rest run on
        the executor (or here, one after another, when there is none or only one to run)."""
        from traitrl.experiments.executor import Job, run_job

        outputs: dict[int, dict] = {}
        todo: list[tuple[int, Job]] = []
        for i, c in enumerate(calls):
            cfg = c.config or self.config
            key = derive_key(c.fn.spec, cfg, c.inputs)  # type: ignore[attr-defined]
            self._adopt(c.label, key, c.inputs)
            marker = self.cache.lookup(c.label, key)
            if marker is not None:
                outputs[i] = marker["outputs"] | {"key": key}
                self.cache.timings[c.label] = marker["seconds"]
            else:
                todo.append((i, Job(c.fn, c.label, cfg, key, c.inputs)))
        if len(todo) == 1 or (todo and self.executor is None):
            for i, job in todo:
                out, self.cache.timings[job.label] = run_job(str(self.root), job, threads=0, quiet=False)
                outputs[i] = out | {"key": job.key}
        elif todo:
            outputs.update(self._on_executor(todo, description))
        return [c.fn.spec.result.model_validate(outputs[i]) for i, c in enumerate(calls)]  # type: ignore[attr-defined]

    def _on_executor(self, todo: list, description: str) -> dict[int, dict]:
        from traitrl.console import err_console, progress

        jobs = [job for _, job in todo]
        with progress() as bar:
            task = bar.add_task(f"{description} on {self.executor.name} ({len(jobs)} jobs)", total=len(jobs))

            def done(job, seconds: float) -> None:
                self.cache.timings[job.label] = seconds
                bar.advance(task)
                err_console.print(f"  done {job.label} ({seconds:.0f} s)", highlight=False)

            outs = self.executor.run(self.root, jobs, done)
        return {i: out | {"key": job.key} for (i, job), out in zip(todo, outs, strict=True)}

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()

    @property
    def timings(self) -> dict[str, float]:
        return self.cache.timings
