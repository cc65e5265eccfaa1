"""Atomic file writes: a result is either whole or absent, never half-written.

Write to a temp file in the same directory, flush, then ``os.replace`` onto the
final name. A process killed mid-write leaves only a ``.tmp-*`` file, which
readers ignore and the next run removes. The temp name is the writing thread's
kernel id and the target's name (no two live threads share a kernel id, a thread
writes one file at a time; a stale temp of the same name is truncated): cheaper
than ``mkstemp``'s random names. Files are created under the umask, as
``open(path, "w")`` creates them.

``atomic_write_text`` (each unit's result) goes one better where the kernel and
filesystem allow (Linux: ext4, xfs, btrfs, tmpfs): the file is written with no
name (``O_TMPFILE``) and then linked under its final name, so the folder changes
once, not twice, and a writer killed mid-write leaves nothing. An existing result
(a rerun), or a system without ``O_TMPFILE`` or ``/proc``, uses the temp name.
Measurements: docs/decisions.md.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TMP_PREFIX = ".tmp-"
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
# O_TMPFILE refused: an old kernel (EISDIR, EINVAL), a filesystem without it (EOPNOTSUPP),
# no folder yet (ENOENT)
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT})
# linking it refused: no /proc (ENOENT), or a sandbox that forbids it
_NO_LINK = frozenset({errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EACCES, errno.EOPNOTSUPP})
_root_fd: int | None = None  # "/", for os.link to take the linkat path that follows /proc/self/fd


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
    target, data = os.fspath(path), text.encode("utf-8")
    if _write_unnamed(target, data, fsync):
        return
    with _temp_beside(target) as fd:
        try:
            _write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_unnamed(target: str, data: bytes, fsync: bool) -> bool:
    """Write ``data`` into a file with no name in ``target``'s folder, then link it
    as ``target`` (through a temp name and a rename when ``target`` exists).
    False: this system cannot, nothing was written; use a temp name."""
    global _root_fd
    if not _O_TMPFILE:
        return False
    try:
        fd = os.open(os.path.dirname(target) or ".", _O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in _NO_TMPFILE:
            return False
        raise
    try:
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
        if _root_fd is None:
            _root_fd = os.open("/", os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_PATH", 0))
        unnamed = f"/proc/self/fd/{fd}"
        try:
            os.link(unnamed, target, src_dir_fd=_root_fd, follow_symlinks=True)
        except FileExistsError:  # a rerun replaces its result: name it beside, then rename over
            tmp = _temp_name(target)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # a dead writer's temp of the same name
            os.link(unnamed, tmp, src_dir_fd=_root_fd, follow_symlinks=True)
            try:
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            if exc.errno in _NO_LINK:
                return False
            raise
        return True
    finally:
        os.close(fd)


def remove_stale_temps(root: str | os.PathLike[str], *, recursive: bool = True) -> int:
    """Delete temp files left by killed writers in ``root``; return how many. A temp
    whose writer thread still lives on this machine (its id in the name) is left alone:
    another lbtui command (``lbtui report``) may be writing it."""
    removed = 0
    for dirpath, dirs, files in os.walk(root):
        for name in files:
            if name.startswith(TMP_PREFIX) and not _writer_alive(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
        if not recursive:
            dirs.clear()
    return removed


def _writer_alive(name: str) -> bool:
    """The thread that names temp ``name`` is running (a recycled id only keeps a stale temp)."""
    tid = name[len(TMP_PREFIX):].partition("-")[0]
    return tid.isdigit() and os.path.exists(f"/proc/{tid}")
