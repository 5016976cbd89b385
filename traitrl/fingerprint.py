"""Content hashes: the one helper behind every cache key, and cheap fingerprints of files and
model folders (so an input made elsewhere can still key a stage)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any


def digest(*parts: Any) -> str:
    """A short content hash of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_fingerprint(*paths: Path) -> str:
    """The content hash of files (scenario files a user gives, for instance)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def folder_fingerprint(model_dir: Path) -> str:
    """Identifies a model folder's weights cheaply: its config plus each weight file's name, size
    and modification time (hashing gigabytes of real-model weights on every run would be slow)."""
    h = hashlib.sha256((model_dir / "config.json").read_bytes())
    for f in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


@cache
def code_fingerprint(package: str) -> str:
    """A hash of the source files of a module or package: a stage that runs this code gets a new
    key whenever the code changes, with no version string to remember to bump."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(f"{package}: no such module")
    origin = Path(spec.origin)
    files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(origin.parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
