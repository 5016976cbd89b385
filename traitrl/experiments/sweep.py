"""`traitrl sweep`: a grid of runs over config keys, sharing what cells have in common.

A sweep file names a base config, overrides for every cell, a grid (dotted key -> values) and
optionally a leave-one-trait-out set (from every grid cell, or from one reference point). Every
cell is an ordinary `traitrl run` folder under `DIR/cells/NAME/`, cached and resumable like any run; cells whose world, corpus and organism
sections agree share one organism, built once under `DIR/organisms/`. Every cell's config is
validated before any work starts; a cell adopts every completed stage of another cell with the
same key (hard links), so the baseline arms a grid over trait fractions or left-out traits
shares are trained and evaluated once. The summary (`sweep.json`, `report.html`) puts each cell's
"improved X of N", its mean delta over evals with a CI over RL seeds, its in-distribution trait
gain and its persistence endpoints against the swept values.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from traitrl import taxonomy
from traitrl.config import Config, load_config
from traitrl.errors import UserError, describe_validation

SWEEP_SCHEMA_VERSION = 1


class SweepSpec(BaseModel):
    """The `sweep:` file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(SWEEP_SCHEMA_VERSION, description="sweep file schema version")
    name: str = Field("sweep", description="sweep name (report title)")
    config: str | None = Field(None, description="base config file, relative to the sweep file (None = the embedded defaults)")
    set: list[str] = Field(default_factory=list, description="dotted.key=value overrides applied to every cell")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="dotted config key -> values; cells are the cartesian product")
    leave_one_trait_out: bool | dict[str, Any] = Field(
        False, description="add one cell per trait with train.include_traits = every other trait: true = from every "
        "grid cell; a mapping (dotted key -> value) = from that one reference cell only, itself added when the grid "
        "lacks it (a dose grid leaves the traits out at one dose, not at every dose)")
    seeds: int | None = Field(None, ge=1, description="RL seeds per arm in every cell (None = run.seeds of the cell's config)")


class Cell(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    overrides: dict[str, Any]
    left_out: str | None = None


def load_sweep(path: Path, overrides: list[str] | None = None) -> tuple[SweepSpec, list[Cell], dict[str, Config]]:
    """Read and validate a sweep file and every cell's config, before any work."""
    if not path.is_file():
        raise UserError(f"{path}: sweep file not found")
    from traitrl.inputs import load_yaml, read_text

    data = load_yaml(read_text(path, "sweep file"), str(path)) or {}  # strict: duplicate keys, nesting, UTF-8
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping (name, config, set, grid, ...)")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{path}: invalid sweep file\n{describe_validation(e)}") from None
    if spec.schema_version != SWEEP_SCHEMA_VERSION:
        raise UserError(f"{path}: schema_version {spec.schema_version} (this traitrl reads {SWEEP_SCHEMA_VERSION})")
    if not spec.grid and spec.leave_one_trait_out is False:
        raise UserError(f"{path}: grid is empty and leave_one_trait_out is off: nothing to sweep")
    for key, values in spec.grid.items():
        if not values:
            raise UserError(f"{path}: grid.{key}: give at least one value")
    base = (path.parent / spec.config) if spec.config else None
    cells = _cells(spec)
    configs = {}
    for cell in cells:
        sets = [*spec.set, *(overrides or []), *(f"{k}={_yaml(v)}" for k, v in cell.overrides.items())]
        try:
            configs[cell.name] = load_config(base, sets)
        except UserError as e:
            raise UserError(f"{path}: cell {cell.name}: {e}") from None
    return spec, cells, configs


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _cells(spec: SweepSpec) -> list[Cell]:
    keys = list(spec.grid)
    cells = []
    for values in itertools.product(*(spec.grid[k] for k in keys)) if keys else [()]:
        over = dict(zip(keys, values, strict=True))
        cells.append(Cell(name=_name(over), overrides=over))
    bases = _left_out_from(spec, cells)
    cells += [b for b in bases if b not in cells]  # a reference point the grid lacks is a cell too
    for base in bases:
        for trait in taxonomy.TRAITS:
            over = {**base.overrides, "train.include_traits": [t for t in taxonomy.TRAITS if t != trait]}
            name = f"{base.name}_no-{trait}" if base.overrides else f"no-{trait}"
            cells.append(Cell(name=name, overrides=over, left_out=trait))
    return cells


def _left_out_from(spec: SweepSpec, cells: list[Cell]) -> list[Cell]:
    """The cells each trait is left out from: every grid cell, none, or the one reference point."""
    at = spec.leave_one_trait_out
    if not isinstance(at, dict):
        return list(cells) if at else []
    return [next((c for c in cells if c.overrides == at), None) or Cell(name=_name(dict(at)), overrides=dict(at))]


def _name(overrides: dict[str, Any]) -> str:
    if not overrides:
        return "reference"
    return "_".join(f"{k.split('.')[-1]}-{_yaml(v)}".replace("/", "-").replace(" ", "") for k, v in overrides.items())


def reuse_folders(reuse: Sequence[Path], out: Path) -> tuple[Path, ...]:
    """The folders whose completed stages a sweep may adopt: each reused run folder with its null
    runs, or a reused sweep folder with its cells. Checked before any work."""
    from traitrl.experiments.nulls import NULLS_DIR

    folders: list[Path] = []
    for r in map(Path, reuse):
        if not (r / "stages").is_dir():
            raise UserError(f"--reuse {r}: not a run or sweep folder (no stages/ in it); "
                            "give a folder written by `traitrl run` or `traitrl sweep`")
        if r.resolve() == out.resolve():
            raise UserError(f"--reuse {r}: is the sweep's own folder (--out); its stages are reused anyway")
        folders.append(r)
        for sub in (NULLS_DIR, "cells"):
            folders += sorted(p for p in (r / sub).glob("*") if (p / "stages").is_dir())
    return tuple(folders)


def run_sweep(path: Path, out: Path, overrides: list[str] | None = None, reuse: Sequence[Path] = ()) -> Path:
    """Run every cell (organisms shared by key), then write `sweep.json` and `report.html`.
    `reuse`: finished run or sweep folders whose stages with a matching key (the organism, the
    baseline arms and their evaluations) are adopted instead of rerun."""
    from traitrl.console import console
    from traitrl.experiments import stages
    from traitrl.experiments.pipeline import run_experiment
    from traitrl.experiments.stage import Runner, derive_key
    from traitrl.experiments.sweep_summary import summarize, write_sweep

    spec, cells, configs = load_sweep(path, overrides)
    sources = reuse_folders(reuse, out)
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]sweep {spec.name}[/bold]: {len(cells)} cells")
    shared = Runner(next(iter(configs.values())), out)
    # every cell may adopt a completed stage of another with the same key (the baseline arms of a
    # trait-fraction or leave-one-out grid, their evaluations, the base's evaluations)
    cell_dirs = (*(out / "cells" / c.name for c in cells), *sources)
    for i, cell in enumerate(cells, 1):
        cfg = configs[cell.name]
        console.print(f"[bold]cell {i}/{len(cells)}[/bold] {cell.name}: {cell.overrides}")
        base = None
        if cfg.policy.model is None:  # one organism per distinct (world, corpus, organism): built once
            key = derive_key(stages.organism.spec, cfg, {})
            label, dest = f"organism-{key}", f"organisms/{key}"
            if (shared.cache.adopt(sources, label, key, dest)  # a reused sweep's organism
                    or shared.cache.adopt(sources, label, key, dest, peer_label="organism", peer_dest="organism")):
                console.print(f"organism {key[:12]}: reused from {shared.cache.lookup(label, key)['shared_from']}")
            org = shared(stages.organism, label, config=cfg, dest=dest)
            cell_dir = out / "cells" / cell.name
            base = org.model_copy(update={"path": os.path.relpath(out / org.path, cell_dir)})
        run_experiment(cfg, out / "cells" / cell.name, seeds=spec.seeds, base=base, peers=cell_dirs)
    summary = summarize(spec, cells, out)
    return write_sweep(summary, out)
