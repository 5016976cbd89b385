"""`traitrl sweep`: a two-cell grid runs end to end, cells share one organism, the local pool and
Ray give identical results, and a bad sweep file is refused before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli


def _sweep(out: Path, *sets: str, reuse: Path | None = None) -> dict:
    args = [sys.executable, "-m", "traitrl", "sweep", "--config", "configs/sweeps/smoke.yaml", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    if reuse is not None:
        args += ["--reuse", str(reuse)]
    env = {**os.environ, "COLUMNS": "120", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "sweep.json").read_text())


@pytest.mark.slow
def test_smoke_sweep_on_the_local_pool_and_on_ray_agree(tiny_run, tmp_path):
    pytest.importorskip("ray")
    # the shared organism is built in the sweep's own process on either backend (only the cells'
    # stages go to the executor), so both sweeps reuse the session tiny run's (`--reuse`: a run
    # folder whose organism stage has the same key), hard-linked, not rebuilt
    kept = tiny_run.parent
    local = _sweep(tmp_path / "local", "run.workers=2", reuse=kept)
    assert [c["name"] for c in local["cells"]] == ["trait_fraction-0.05", "trait_fraction-0.25"]
    assert [c["overrides"] for c in local["cells"]] == [{"train.trait_fraction": 0.05}, {"train.trait_fraction": 0.25}]
    organisms = list((tmp_path / "local" / "organisms").iterdir())
    assert len(organisms) == 1  # both cells share one organism
    run_marker = json.loads((kept / "stages" / "organism.json").read_text())
    marker = json.loads((tmp_path / "local" / "stages" / f"organism-{run_marker['key']}.json").read_text())
    assert marker["shared_from"] == kept.name and marker["outputs"]["path"] == f"organisms/{run_marker['key']}"
    assert organisms[0].name == run_marker["key"]
    assert ((organisms[0] / "model.safetensors").stat().st_ino
            == (kept / run_marker["outputs"]["path"] / "model.safetensors").stat().st_ino)
    # the second cell adopts the first cell's baseline arm and every evaluation of the base and
    # the baseline (their keys do not depend on the trait fraction); its trait arm is its own
    markers = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "local" / "cells" / "trait_fraction-0.25" / "stages").glob("*.json")}
    adopted = {label for label, m in markers.items() if m.get("shared_from") == "trait_fraction-0.05"}
    assert {"train_baseline", "eval_baseline", "eval_base", "eval_base_known_careful", "eval_base_known_harmful",
            "curve_base"} <= adopted
    # (the matched start may be adopted: where the pair's trait checkpoint is the trait arm's final
    # model, only the baseline checkpoint is prompted, the same in both cells)
    assert not any(label.startswith(("train_trait", "eval_trait", "curve_trait", "persist_prompting")) for label in adopted)
    cells = tmp_path / "local" / "cells"
    for name in ("trait_fraction-0.05", "trait_fraction-0.25"):
        assert (cells / name / "arms" / "baseline" / "model" / "model.safetensors").is_file()
    assert ((cells / "trait_fraction-0.25" / "arms/baseline/model/model.safetensors").stat().st_ino
            == (cells / "trait_fraction-0.05" / "arms/baseline/model/model.safetensors").stat().st_ino)
    for c in local["cells"]:
        res = json.loads((tmp_path / "local" / "cells" / c["name"] / "results.json").read_text())
        assert c["evals"] == res["scoreboard"]["trait_vs_baseline"]["n"]
        assert c["improved"] == res["scoreboard"]["trait_vs_baseline"]["improved"]
        # the trait arm's mix follows the cell's fraction: 16 prompts / 8 = 2 per step x 4 steps = 8 rows
        frac = res["arms"]["trait"]["trait_fraction"]
        assert frac == pytest.approx(round(8 * c["overrides"]["train.trait_fraction"]) / 8)
    html = (tmp_path / "local" / "report.html").read_text()
    assert "trait_fraction-0.25" in html and "data:image/png;base64" in html
    on_ray = _sweep(tmp_path / "ray", "run.backend=ray", reuse=kept)
    assert on_ray == local


def test_a_bad_sweep_file_is_refused_before_any_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"config: {REPO / 'configs' / 'smoke.yaml'}\ngrid:\n  train.trait_fractoin: [0.1]\n")
    res = run_cli("sweep", "--config", str(bad), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert "trait_fractoin" in res.stderr and "cell trait_fractoin-0.1" in res.stderr
    assert not (tmp_path / "out").exists()
    res = run_cli("sweep", "--config", "configs/sweeps/smoke.yaml", "--out", str(tmp_path / "out"),
                  "--reuse", str(tmp_path / "no-such-run"))
    assert res.returncode == 2 and "no-such-run: not a run or sweep folder" in res.stderr
    assert not (tmp_path / "out").exists()
    empty = tmp_path / "empty.yaml"
    empty.write_text("grid: {}\n")
    res = run_cli("sweep", "--config", str(empty), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "nothing to sweep" in res.stderr


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_file_validates_with_every_cell_config(path):
    from traitrl.experiments.sweep import load_sweep

    spec, cells, configs = load_sweep(path)
    assert len(cells) == len(configs) == len({c.name for c in cells}) > 0
    for cell in cells:  # every grid value reached its cell's config
        cfg = configs[cell.name].model_dump()
        for key, value in cell.overrides.items():
            section, field = key.split(".")
            assert cfg[section][field] == value, (cell.name, key)


def test_traits_are_left_out_at_one_reference_point_not_at_every_grid_cell(tmp_path):
    from traitrl import taxonomy
    from traitrl.experiments.sweep import load_sweep

    def cells(at: str) -> list:
        path = tmp_path / "loo.yaml"
        path.write_text(f"config: {REPO / 'configs' / 'smoke.yaml'}\n"
                        "grid:\n  corpus.rho: [1.0, 0.0]\n  train.trait_fraction: [0.0, 0.2]\n" + at)
        return load_sweep(path)[1]

    off_grid = cells("leave_one_trait_out:\n  corpus.rho: 1.0\n  train.trait_fraction: 0.15\n")
    assert len(off_grid) == 4 + 1 + 7  # the grid, the reference point it lacks, one cell per trait left out
    ref = off_grid[4]
    assert (ref.name, ref.overrides, ref.left_out) == (
        "rho-1.0_trait_fraction-0.15", {"corpus.rho": 1.0, "train.trait_fraction": 0.15}, None)
    loo = off_grid[5:]
    assert [c.left_out for c in loo] == list(taxonomy.TRAITS)
    for c in loo:
        assert c.name == f"{ref.name}_no-{c.left_out}"
        assert c.overrides == {**ref.overrides, "train.include_traits": [t for t in taxonomy.TRAITS if t != c.left_out]}

    on_grid = cells("leave_one_trait_out:\n  corpus.rho: 0.0\n  train.trait_fraction: 0.2\n")
    assert len(on_grid) == 4 + 7  # the grid already has the point: no second reference cell
    assert {c.name.removesuffix(f"_no-{c.left_out}") for c in on_grid[4:]} == {"rho-0.0_trait_fraction-0.2"}
    assert len(cells("leave_one_trait_out: true\n")) == 4 + 4 * 7  # from every grid cell, as before
