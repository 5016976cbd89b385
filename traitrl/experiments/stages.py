"""Stage caching for `traitrl run`: each stage's outputs are keyed by a content hash of its
inputs (config sections, upstream stage keys, code version).

A stage's marker (`stages/NAME.json`) is written atomically *after* its outputs, so a run killed
at any point — even with `kill -9` — either finds a complete stage with a matching key and skips
it, or redoes it from scratch. Rerunning the same command therefore resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traitrl.atomic import write_json

CODE_VERSION = "run-2"  # bump when a stage's behaviour changes, to invalidate old caches


def content_key(*parts: Any) -> str:
    blob = json.dumps([CODE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class StageCache:
    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / "stages"
        self.timings: dict[str, float] = {}
        self.ran: list[str] = []

    def _marker(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def lookup(self, name: str, key: str) -> dict | None:
        path = self._marker(name)
        if not path.is_file():
            return None
        try:
            marker = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        return marker if marker.get("key") == key else None

    def run(self, name: str, key: str, fn: Callable[[], dict]) -> dict:
        """Return the stage's outputs, computing them only if no complete stage with this key exists."""
        marker = self.lookup(name, key)
        if marker is not None:
            self.timings[name] = marker["seconds"]
            return marker["outputs"]
        t0 = time.perf_counter()
        outputs = fn()
        seconds = round(time.perf_counter() - t0, 2)
        write_json(self._marker(name), {"name": name, "key": key, "seconds": seconds, "outputs": outputs})
        self.timings[name] = seconds
        self.ran.append(name)
        return outputs
