"""One writer per folder: `with hold_folder(out, "traitrl run"):` around everything that writes there.

The lock is `fcntl.flock` on a file inside the folder, so the kernel releases it when the holder
dies however it dies (kill -9 included): a lock file left behind by a process that is gone is
taken over, and said so. The file names its holder (pid, host, command, start time), so a second
writer is refused at once with a message that says who holds the folder.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from traitrl.errors import UserError, redact

LOCK_FILE = ".traitrl.lock"


def _holder_text(what: str) -> str:
    return json.dumps({
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "what": what,
        # argv may carry a --set with a secret; the lock file is readable by anyone who can list the folder
        "command": redact(" ".join(sys.argv)),
        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }) + "\n"


def _describe(text: str) -> str:
    try:
        h = json.loads(text)
        return f"process {h['pid']} on {h['host']} ({h['what']}, since {h['since']}: {h['command']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _open_locked(lock: Path, folder: Path) -> int:
    """An fd holding the exclusive lock on `lock`, or UserError naming the holder."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise UserError(f"{folder}: cannot write here ({e.strerror or e}); choose another --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            raise UserError(f"{folder}: already being written by {holder}; wait for it to finish, "
                            f"or use another --out") from None
        # the holder before us may have removed the file between our open and our lock: then we
        # hold a lock on a file nobody else will see, and must start again on the new one
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


_HELD: set[Path] = set()  # folders this process holds: holding is re-entrant within a process


@contextlib.contextmanager
def hold_folder(path: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """Hold `path` (created if missing) for the duration; a second process gets UserError (exit 2)
    at once, naming the holder. Holding a folder this process already holds is a no-op."""
    folder = Path(path)
    key = folder.resolve()
    if key in _HELD:
        yield folder
        return
    created = not folder.exists()
    fd = _acquire(folder, what)
    _HELD.add(key)
    try:
        yield folder
    finally:
        _HELD.discard(key)
        _release(folder, fd)
        if created:  # a run refused before it wrote anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def claim_folder(path: str | os.PathLike[str], what: str) -> Path:
    """Hold `path` until this process exits (for a CLI command, whose process is the command)."""
    stack = contextlib.ExitStack()
    folder = stack.enter_context(hold_folder(path, what))
    atexit.register(stack.close)
    return folder


def _acquire(folder: Path, what: str) -> int:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: exists and is not a folder; choose another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{folder}: cannot create the folder ({e.strerror or e}); choose another --out") from None
    fd = _open_locked(folder / LOCK_FILE, folder)
    try:
        left = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        if left.strip():  # a holder that ended cleanly empties the file: this one was killed
            from traitrl.console import err_console

            err_console.print(f"{folder}: taking over the lock left by {_describe(left)}, which is gone",
                              highlight=False, markup=False)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_text(what).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(folder: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.unlink(folder / LOCK_FILE)
    os.close(fd)
