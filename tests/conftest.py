from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
    path = build_organism(cfg, root / "organism", lambda: sample_corpus(cfg), show_progress=False)
    (path / "traitrl.yaml").write_text(cfg.to_yaml())
    return path
