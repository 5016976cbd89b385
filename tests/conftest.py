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
