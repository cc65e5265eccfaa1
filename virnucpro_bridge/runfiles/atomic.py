"""Atomic file writes: a result is either whole or absent, never half-written.

Write to a temp file in the same directory, flush, then ``os.replace`` onto
the final name. A process killed mid-write leaves only a ``.tmp-*`` file,
which readers ignore and the next run removes.

The temp name is the writing thread's kernel id and the target's name: no
two live threads share a kernel id, and one thread writes one file at a time,
so no two writers share a temp file; a name made up front costs one ``open``
where ``mkstemp`` draws random names and pays for them (in Python, about a
third of a tiny unit's result write), and it is shorter. A stale temp of the
same name (a dead writer whose id came back) is truncated.
Files are created like ``open(path, "w")`` creates them, under the umask.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO, Iterator

TMP_PREFIX = ".tmp-"
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def temp_path(target: str | os.PathLike[str]) -> Path:
    """Where ``target`` is written before its rename: unique to this thread
    (its kernel id; a process's main thread has the process's id)."""
    return Path(_temp_name(os.fspath(target)))


def _temp_name(target: str) -> str:
    # os.path, not pathlib: this runs once per result, and a Path costs more than the rest
    head, name = os.path.split(target)
    return os.path.join(head, f"{TMP_PREFIX}{threading.get_native_id()}-{name}")


def _open_temp(tmp: str) -> int:
    try:
        return os.open(tmp, _FLAGS, 0o666)
    except FileNotFoundError:  # the first file of its folder
        os.makedirs(os.path.dirname(tmp) or ".", exist_ok=True)
        return os.open(tmp, _FLAGS, 0o666)


@contextlib.contextmanager
def _temp_beside(target: str) -> Iterator[int]:
    """A temp file's descriptor, for the body to write and close; then the temp is
    renamed onto ``target``, or removed if anything failed."""
    tmp = _temp_name(target)
    fd = _open_temp(tmp)
    try:
        yield fd
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", *, fsync: bool = False) -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it onto ``path`` on success.

    ``fsync=False`` by default: rename-after-write already survives a killed
    process; fsync only adds power-loss durability, at a cost per file that
    dominates small units.
    """
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports 'w' and 'wb'")
    kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    with _temp_beside(os.fspath(path)) as fd, os.fdopen(fd, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())


def atomic_write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> None:
    """``text`` as UTF-8, whole or not at all: one ``write`` of the encoded bytes,
    without a text-file object (most results are a few hundred bytes)."""
    with _temp_beside(os.fspath(path)) as fd:
        try:
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temps(root: str | os.PathLike[str], *, recursive: bool = True) -> int:
    """Delete temp files left by killed writers in ``root``; return how many."""
    removed = 0
    for dirpath, dirs, files in os.walk(root):
        for name in files:
            if name.startswith(TMP_PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
        if not recursive:
            dirs.clear()
    return removed
