from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
LONGEST = ("test_science.py",)  # the one test several times longer than any other


def pytest_collection_modifyitems(config, items):
    """Order for `pytest -n 2 --dist worksteal` (Makefile), which gives each worker one half of the
    list and lets an idle worker steal from the tail of the other's: the longest test first, so it
    starts at once on the first worker (a long test that starts last sets the wall time alone), and
    the tests of the two shared organisms (`smoke_organism`, then `tiny_run`: a minute or several to
    make, then shared) at the head of the second worker's half, so one worker makes both while the
    first runs the longest test, and no worker sits waiting on the other's fixture. Without
    workers the order changes nothing."""
    def uses(item, fixture: str) -> bool:
        return fixture in getattr(item, "fixturenames", ())

    longest = [i for i in items if i.path.name in LONGEST]
    tiny = [i for i in items if i not in longest and uses(i, "tiny_run")]
    smoke = [i for i in items if i not in longest and i not in tiny and uses(i, "smoke_organism")]
    rest = [i for i in items if i not in longest and i not in tiny and i not in smoke]
    cut = max(0, len(items) // 2 - len(longest))
    items[:] = [*longest, *rest[:cut], *smoke, *tiny, *rest[cut:]]


@pytest.fixture(scope="session")
def world():
    from traitrl.world import get_world

    return get_world(0, 6, 0.34)


@pytest.fixture(scope="session")
def grader(world):
    from traitrl.graders.world import WorldGrader

    return WorldGrader(world)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `traitrl` command in a subprocess (exit codes and stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "traitrl", *args], capture_output=True, text=True, cwd=cwd or REPO,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})


@pytest.fixture(scope="session")
def smoke_organism(request, tmp_path_factory) -> Path:
    """The smoke-profile organism, built once (and kept in pytest's cache between sessions; the
    build is keyed by its config hash, so a changed config rebuilds)."""
    import torch

    from traitrl.config import load_config
    from traitrl.models.build import build_organism
    from traitrl.world.corpus import sample_corpus

    torch.set_num_threads(1)
    cfg = load_config(REPO / "configs" / "smoke.yaml")
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("traitrl-smoke-organism") if cache is not None else tmp_path_factory.mktemp("org")
    with FileLock(str(root) + ".lock"):  # pytest -n: one worker builds, the others wait and reuse it
        path = build_organism(cfg, root / "organism", lambda: sample_corpus(cfg), show_progress=False)
        (path / "traitrl.yaml").write_text(cfg.to_yaml())
    return path


# ---- a real `traitrl run` on a tiny profile, for tests of what a run writes ----

# The overrides of tests/test_run.py: the smoke profile cut to a run of a few minutes.
TINY_RUN = [
    "corpus.n_conversations=1500", "corpus.n_documents=100", "organism.steps=300",
    "evals.n_items=6", "evals.families=[sycophancy, corrigibility, welfare]",
    "train.steps=4", "train.checkpoint_every=2", "train.per_device_batch=16",
    "persistence.prompting.n_items=4", "persistence.finetune.doses=[0, 4]",
    "persistence.finetune.dataset_size=64", "persistence.finetune.n_items=4", "run.curve_items=4",
    # a 300-step organism answers almost nothing in world sentences yet: its rewards are mostly
    # unscored, which would (rightly) stop a real run; this profile only tests what a run writes
    "train.max_unscored_rate=1",
]

# Report modules that only render results.json: a change to them cannot change what a run writes,
# so they stay out of the cache key (the report tests rebuild the report from results.json anyway).
_RENDER_ONLY = {"appendix.py", "html.py", "plots.py", "sections.py", "summary.py", "tables.py", "names.py"}


def _tiny_run_key() -> str:
    """Hash of everything that decides the tiny run's results.json: the code, the profile, the overrides."""
    import hashlib

    h = hashlib.sha256("\n".join(TINY_RUN).encode())
    files = sorted(p for p in (REPO / "traitrl").rglob("*") if p.suffix in (".py", ".yaml", ".json", ".txt"))
    for p in [*files, REPO / "configs" / "smoke.yaml"]:
        if p.parent.name == "report" and p.name in _RENDER_ONLY:
            continue
        h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def tiny_run(request, tmp_path_factory) -> Path:
    """`results.json` of a real `traitrl run --config configs/smoke.yaml` with the TINY_RUN overrides.

    Runs once per code version (a few minutes) and is kept in pytest's cache keyed by the hash of
    the traitrl source tree; without a cache (`-p no:cacheprovider`) it runs once per session.
    Kept: results.json, and the run's organism stage (its marker and folder), which other tests
    of a tiny run adopt (`adopt_tiny_organism`) instead of building the same organism again.
    Tests copy results.json into their own folder to build a report from it.
    """
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("traitrl-tiny-run") if cache is not None else tmp_path_factory.mktemp("tiny-run")
    kept = root / _tiny_run_key() / "results.json"
    with FileLock(str(root) + ".lock"):  # pytest -n: one worker runs it, the others wait and reuse it
        if not kept.is_file():
            _tiny_run_into(kept, root, tmp_path_factory)
    return kept


def adopt_tiny_organism(tiny_run: Path, out: Path) -> None:
    """Give the run folder `out` the tiny run's organism stage, adopted (hard-linked, marker after
    the folder) the way a sweep cell adopts a stage of another cell, so a `traitrl run` with the
    TINY_RUN overrides into `out` skips the organism build. The marker's key is the stage key the
    run derives, so a test whose overrides changed the organism would rebuild it, not reuse it.
    (A sweep reuses it with `traitrl sweep --reuse KEPT`.)"""
    from traitrl.experiments.cache import StageCache

    kept = tiny_run.parent
    marker = json.loads((kept / "stages" / "organism.json").read_text(encoding="utf-8"))
    assert StageCache(out).adopt([kept], "organism", marker["key"], marker["outputs"]["path"])


def _tiny_run_into(kept: Path, root: Path, tmp_path_factory) -> None:
    import os
    import shutil

    out = tmp_path_factory.mktemp("tiny-run-out") / "run"
    cmd = [sys.executable, "-m", "traitrl", "run", "--config", "configs/smoke.yaml", "--out", str(out)]
    for s in TINY_RUN:
        cmd += ["--set", s]
    done = subprocess.run(cmd, cwd=REPO, env=tiny_run_env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        pytest.fail(f"traitrl run (tiny profile) failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
    for old in root.iterdir():  # results of older code versions
        shutil.rmtree(old, ignore_errors=True)
    tmp = kept.parent.with_name(kept.parent.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "stages").mkdir(parents=True)
    shutil.copyfile(out / "stages" / "organism.json", tmp / "stages" / "organism.json")
    shutil.copytree(out / "organism", tmp / "organism")
    shutil.copyfile(out / "results.json", tmp / "results.json")
    os.replace(tmp, kept.parent)  # the kept folder appears whole or not at all


def tiny_run_env() -> dict:
    """The environment of every tiny `traitrl run` a test starts (one thread each: two test
    workers share the cores, and runs whose results are compared run alike)."""
    import os

    return {**os.environ, "COLUMNS": "120", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
