"""The stage cache of a run folder: one marker per completed stage, keyed by a derived key.

A stage's key is derived from what the stage declares it depends on (see `stage.py`): its name
and version, the source code of the packages it runs, the config sections it reads, the keys of
the upstream results it consumes and its own parameters. Nothing builds a key by hand.

A marker (`stages/LABEL.json`) is written atomically *after* the stage's outputs, so a run
killed at any point — even with `kill -9` — either finds a complete stage with a matching key and
skips it, or redoes it from scratch. Rerunning the same command therefore resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from traitrl.atomic import write_json
from traitrl.fingerprint import code_fingerprint, digest, file_fingerprint, folder_fingerprint

__all__ = ["StageCache", "code_fingerprint", "digest", "file_fingerprint", "folder_fingerprint"]


class StageCache:
    """Markers of completed stages in `RUN/stages/`, and the seconds each stage took."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / "stages"
        self.timings: dict[str, float] = {}
        self.ran: list[str] = []
        self.shared: list[str] = []  # stages adopted from a peer run folder

    def _marker(self, label: str) -> Path:
        return self.dir / f"{label}.json"

    def lookup(self, label: str, key: str) -> dict | None:
        path = self._marker(label)
        if not path.is_file():
            return None
        try:
            marker = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return marker if isinstance(marker, dict) and marker.get("key") == key else None

    def adopt(self, peers: Sequence[Path], label: str, key: str, dest: str | None,
              peer_label: str | None = None, peer_dest: str | None = None) -> bool:
        """Take a completed stage with this label and key from a peer run folder (a sweep's other
        cells, a reused run): its output `dest` (a file or folder, with the `STEM.*-logs` folders
        beside a file) is hard-linked in — copied where links cannot be made — and its marker
        written after it, naming the peer. `peer_label` / `peer_dest`: the stage's label and output
        in the peer where they differ from ours (a run folder's `organism` is a sweep's
        `organisms/KEY`). Only stages that name their `dest` can be adopted."""
        if dest is None or self.lookup(label, key) is not None:
            return False
        peer_label, peer_dest = peer_label or label, peer_dest or dest
        for peer in map(Path, peers):
            marker = StageCache(peer).lookup(peer_label, key)
            src = peer / peer_dest
            if marker is None or not src.exists():
                continue
            logs = [p.name for p in src.parent.glob(f"{src.stem}.*-logs")] if src.is_file() else []
            _link_tree(src, self.dir.parent / dest)
            for name in logs:
                _link_tree(src.parent / name, (self.dir.parent / dest).parent / name.replace(src.stem, Path(dest).stem, 1))
            outputs = marker["outputs"]
            if peer_dest != dest and outputs.get("path") == peer_dest:
                outputs = {**outputs, "path": dest}
            write_json(self._marker(label), {**marker, "name": label, "outputs": outputs, "shared_from": peer.name})
            self.shared.append(label)
            return True
        return False

    def run(self, label: str, key: str, fn: Callable[[], dict]) -> dict:
        """The stage's outputs, computed only if no complete stage with this key exists."""
        marker = self.lookup(label, key)
        if marker is not None:
            self.timings[label] = marker["seconds"]
            return marker["outputs"]
        t0 = time.perf_counter()
        outputs = fn()
        seconds = round(time.perf_counter() - t0, 2)
        write_json(self._marker(label), {"name": label, "key": key, "seconds": seconds, "outputs": outputs})
        self.timings[label] = seconds
        self.ran.append(label)
        return outputs


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a copy
        shutil.copy2(src, dst)


def _link_tree(src: Path, dst: Path) -> None:
    """`dst` replaced by hard links of `src` (a file or a folder); files written later by either
    run are replaced atomically, never written through the link."""
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link)
    else:
        _link(str(src), str(dst))
