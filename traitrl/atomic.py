"""Atomic file writes: a file, or a group of files that belong together, appears whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from traitrl.errors import UserError

# A full disk, a quota, a read-only mount, a permission, a folder where a file goes: the user's to fix, not a bug.
_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                          errno.EISDIR, errno.ENOTDIR})


def _user_error(exc: OSError, paths: Sequence[Path]) -> UserError | None:
    if exc.errno not in _DISK_ERRORS:
        return None
    names = ", ".join(str(p) for p in paths)
    return UserError(f"{names}: cannot write ({exc.strerror or exc}); nothing was written")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path`, then rename it into place.

    An exception (or a killed process) leaves `path` untouched; a full disk is a UserError.
    """
    with atomic_group([path], mode) as (f,):
        yield f


@contextlib.contextmanager
def atomic_group(paths: Sequence[str | os.PathLike[str]], mode: str = "w") -> Iterator[list[IO[Any]]]:
    """Files that belong together (train.jsonl and dev.jsonl; a results file and its CSVs): each is
    written to a temporary file beside it, and only when all are whole are they renamed into place,
    so a failure (a full disk included) leaves none of them new."""
    targets = [Path(p) for p in paths]
    temps: list[tuple[Path, str, IO[Any]]] = []
    try:
        try:
            for path in targets:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                temps.append((path, tmp, os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))))
            yield [f for _, _, f in temps]
            for _, tmp, f in temps:
                f.flush()
                os.fsync(f.fileno())
                f.close()
                os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
            for path in targets:  # checked before the first rename, so none is replaced alone
                if path.is_dir():
                    raise IsADirectoryError(errno.EISDIR, "a folder is in the way", str(path))
            for path, tmp, _ in temps:
                os.replace(tmp, path)
        except OSError as e:
            err = _user_error(e, targets)
            if err is None:
                raise
            raise err from None
    except BaseException:
        for _, tmp, f in temps:
            with contextlib.suppress(OSError):
                f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    return write_jsonl_group({path: rows})[0]


def write_jsonl_group(files: Mapping[str | os.PathLike[str], Iterable[dict[str, Any]]]) -> list[int]:
    """Several JSONL files that appear together or not at all; returns the rows of each."""
    counts = []
    with atomic_group(list(files)) as handles:
        for f, rows in zip(handles, files.values(), strict=True):
            n = 0
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                n += 1
            counts.append(n)
    return counts


def write_texts(files: Mapping[str | os.PathLike[str], str]) -> None:
    """Several text files that appear together or not at all."""
    with atomic_group(list(files)) as handles:
        for f, text in zip(handles, files.values(), strict=True):
            f.write(text)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable_dir(folder: Path, shown: Path) -> None:
    """UserError unless a file can be created in `folder` (tried, not guessed: root ignores modes)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".traitrl-probe-"):
            pass
    except OSError as e:
        raise UserError(f"{shown}: cannot write into {folder} ({e.strerror or e}); choose another --out") from None


def check_output_folder(path: str | os.PathLike[str]) -> Path:
    """Before any work: `path` is, or can become, a folder we can write into. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder; --out names a folder here")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise UserError(f"{path}: {base} is a file, so this folder cannot be made; choose another --out")
    _check_writable_dir(base, path)
    return path


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Before any work: `path` is, or can become, a file we can write. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder; --out names the file to write here")
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise UserError(f"{path}: {base} is a file, so the folder for it cannot be made; choose another --out")
    _check_writable_dir(base, path)
    return path
