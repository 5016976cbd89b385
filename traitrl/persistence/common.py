"""Pieces both persistence experiments share: named models, cached suite runs, progress hooks.

A persistence run evaluates the same suite many times (five persona conditions, or one per
fine-tuning dose, per model). Each evaluation is saved as an ordinary eval results file with a
cache key in its `meta`; a rerun with the same inputs reads the file instead of generating
again, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traitrl.config import Config
from traitrl.errors import UserError
from traitrl.evals.registry import EvalSpec, select
from traitrl.evals.results import EvalResults, load_results, save_results
from traitrl.evals.runner import suite_generations as n_prompts  # noqa: F401  (re-exported)
from traitrl.fingerprint import digest, folder_fingerprint
from traitrl.models.loader import Policy, load_policy
from traitrl.models.loader import set_threads as set_threads  # re-exported for `traitrl persist`

# (description, total) -> advance(k): how a caller shows progress without this code knowing rich.
TaskFactory = Callable[[str, int], Callable[[int], None]]
CACHE_KEY = "persistence_key"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def no_progress(description: str, total: int) -> Callable[[int], None]:
    return lambda k: None


@dataclass(frozen=True)
class ModelRef:
    """A model under test: the name it has in results, and its Hugging Face folder."""

    name: str
    path: Path


def model_refs(specs: list[str]) -> list[ModelRef]:
    """`DIR` or `NAME=DIR` per model; a bare folder is named after itself (made unique)."""
    refs: list[ModelRef] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        p = Path(path if sep else spec)
        if not (p / "config.json").is_file():
            raise UserError(f"{p}: not a Hugging Face model folder (no config.json)")
        base = name if sep else (p.resolve().name or "model")
        if not _NAME.fullmatch(base):
            raise UserError(f"--model {spec}: name {base!r} must be letters, digits, '.', '_' or '-' (it names files)")
        taken = {r.name for r in refs}
        unique, k = base, 2
        while unique in taken:
            unique, k = f"{base}-{k}", k + 1
        if sep and unique != base:
            raise UserError(f"--model {spec}: the name {base!r} is used twice")
        refs.append(ModelRef(unique, p))
    if not refs:
        raise UserError("give at least one --model")
    return refs


# One hash helper for every cache key (traitrl.fingerprint); these are its names here.
fingerprint = folder_fingerprint
key_of = digest


def suite_specs(config: Config, ids: list[str], families: list[str]) -> list[EvalSpec]:
    """The evals an experiment runs: its own selection, else the eval section's, else all 53."""
    ec = config.evals
    specs = select(ids or ec.ids or None, families or ec.families or None)
    if not specs:
        raise UserError("the eval selection is empty (check persistence ids / families)")
    return specs


def with_items(config: Config, n_items: int | None) -> Config:
    """A copy of the config whose eval section asks for `n_items` per eval (None = unchanged)."""
    if n_items is None:
        return config
    return config.model_copy(update={"evals": config.evals.model_copy(update={"n_items": n_items})})


def cached_evaluate(policy: Callable[[], Policy], config: Config, model_name: str, persona: str,
                    specs: list[EvalSpec], path: Path, key: str, advance: Callable[[int], None]) -> EvalResults:
    """The suite's results for one condition: from `path` if it was written with the same `key`,
    else generated, graded and saved there atomically (the key goes into `meta`)."""
    from traitrl.evals.runner import evaluate

    return cached_results(path, key, lambda: advance(n_prompts(specs, config.evals.n_items)),
                          lambda: evaluate(policy(), config, model_name, persona, progress=advance, specs=specs))


def cached_results(path: Path, key: str, on_hit: Callable[[], None], compute: Callable[[], EvalResults]) -> EvalResults:
    """The results in `path` if they were written with the same `key` (then `on_hit()`), else
    `compute()`, saved there atomically with the key in `meta`."""
    if path.is_file():
        try:
            cached = load_results(path)
        except UserError:
            cached = None
        if cached is not None and cached.meta.get(CACHE_KEY) == key:
            on_hit()
            return cached
    results = compute()
    results = results.model_copy(update={"meta": {**results.meta, CACHE_KEY: key}})
    save_results(path, results)
    return results


class LazyPolicy:
    """Loads a model only when a condition actually needs generating (a fully cached rerun loads
    nothing), and at most once."""

    def __init__(self, loader: Callable[[], Policy]):
        self._loader = loader
        self._policy: Policy | None = None

    def __call__(self) -> Policy:
        if self._policy is None:
            self._policy = self._loader()
        return self._policy


def folder_policy(model_dir: Path, config: Config) -> LazyPolicy:
    """A lazily loaded policy for a Hugging Face folder: the config's `policy:` section and
    `persistence.threads` apply, sampling as the eval section says."""
    return LazyPolicy(lambda: load_policy(model_dir, config, threads=config.persistence.threads))
