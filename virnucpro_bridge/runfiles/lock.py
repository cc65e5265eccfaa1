"""One run per run folder: a kernel lock on ``OUT/.lbtui/run.lock`` for the run's whole life.

A run takes the lock before it reads anything in the folder (the manifest it resumes
from included) and keeps it until its process ends; a second ``lbtui run`` on the
folder fails at once, naming the holder, and has touched nothing. Everything a run
removes in its folder (temp files, a dead run's socket and key) is then a dead run's
or its own.

``flock`` locks belong to the open file: the kernel drops them when the process dies,
however it dies, so no stale lock is left. The file stays (removing it would let a
third run lock a new file while a second still waits on the old one). On NFS, Linux
turns ``flock`` into a byte-range lock the server arbitrates (NFSv4, or v3 with
``lockd``), so it holds across machines, except on a mount with ``nolock`` or
``local_lock=flock``; a machine that dies holding one keeps it until the server's
lease runs out (NFSv4: 90 s by default).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from ..control.endpoint import control_dir, private_dir
from ..errors import UsageError

LOCK_NAME = "run.lock"
HOLDER_MAX = 4096  # what a holder writes is a few dozen bytes; more is not ours
RUN_JSON_MAX = 1 << 20  # run.json is a few KB; a bigger one is cut off, and then not JSON
_OPEN = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK  # never follow a planted link, never block on a FIFO


def lock_path(out: Path) -> Path:
    return control_dir(out) / LOCK_NAME


@dataclass(frozen=True)
class Holder:
    """Who holds a folder's lock, as the holder wrote it (text from a file: shown, never trusted)."""

    host: str = "?"
    pid: int = 0
    started: str = "?"

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}"


class FolderLock:
    """The lock on one run folder, held from ``acquire`` until ``release`` or the process ends."""

    def __init__(self, fd: int, path: Path, created: list[Path], fresh: bool) -> None:
        self.path = path
        self.created = created  # folders acquire() made, deepest last: removed again by release(undo=True)
        self.fresh = fresh  # acquire() made the lock file too (an earlier run's is left as it was)
        self._fd: int | None = fd
        # a run dropped without release() (a test's) gives the lock back with its object
        self._finalizer = weakref.finalize(self, os.close, fd)
        self._finalizer.atexit = False  # at exit the kernel releases it, after the channel has closed

    @classmethod
    def acquire(cls, out: Path) -> FolderLock:
        """Create ``out`` if needed and lock it; UsageError (exit 2) when another process holds it."""
        created = _make_folders(out)
        folder = control_dir(out)
        try:
            if not folder.exists():
                private_dir(folder)
                created.append(folder)
            else:
                private_dir(folder)
            fresh = not os.path.lexists(lock_path(out))
            fd = _lock(out)
        except BaseException:
            _remove_folders(created)
            raise
        _write_holder(fd)
        return cls(fd, lock_path(out), created, fresh)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, *, undo: bool = False) -> None:
        """Give the lock back. ``undo``: the run never started; also remove the lock file and
        the folders ``acquire`` made (when nothing else is in them), if it made them."""
        if self._fd is None:
            return
        if undo and self.fresh:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # while still locked: a run that opened it sees it gone (_lock)
        self._finalizer()  # closes the descriptor: the kernel drops the lock
        self._fd = None
        if undo:
            _remove_folders(self.created)


def _lock(out: Path) -> int:
    """The locked descriptor of ``out``'s lock file. A file unlinked between our open and
    our lock (a run that gave up) is not the folder's lock any more: open it again."""
    path = lock_path(out)
    for _ in range(10):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _OPEN, 0o600)
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot create its lock file {path}: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"--out {out}: {path} is not a regular file; remove it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise UsageError(f"--out {out}: cannot lock {path}: {exc.strerror or exc}") from None
                raise UsageError(_busy(out, read_holder(fd))) from None
            try:
                now = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            return fd
        os.close(fd)
    raise UsageError(f"--out {out}: its lock file {path} keeps being replaced")


def holder(out: Path) -> Holder | None:
    """Who holds ``out``'s lock now, or None when no live process does (taking nothing)."""
    try:
        fd = os.open(lock_path(out), os.O_RDONLY | _OPEN)
    except PermissionError:  # another user's run folder: its lock is theirs alone to read
        return _recorded_holder(out)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return read_holder(fd)
        return None  # we got it: nobody holds it (closing the descriptor gives it back)
    finally:
        os.close(fd)


def _recorded_holder(out: Path) -> Holder | None:
    """For a user who may not open the lock: the main process run.json names, when it is
    on this host and alive (a live process of another user answers EPERM). Another
    host's process cannot be asked: None, as for a folder without a lock."""
    try:
        fd = os.open(out / "run.json", os.O_RDONLY | _OPEN)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        run = json.loads(os.pread(fd, RUN_JSON_MAX, 0) or b"{}")
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if not isinstance(run, dict):
        return None
    pid = run.get("main_pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or run.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # alive, and not ours
    except OSError:
        return None
    return Holder(host=_text(run.get("host")), pid=pid, started=_text(run.get("start_time")))


def read_holder(fd: int) -> Holder:
    """What the lock's holder wrote into it; placeholders where it is unreadable."""
    try:
        raw = json.loads(os.pread(fd, HOLDER_MAX, 0) or b"{}")
    except (OSError, ValueError):
        return Holder()
    if not isinstance(raw, dict):
        return Holder()
    pid = raw.get("pid")
    return Holder(host=_text(raw.get("host")), pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
                  started=_text(raw.get("started")))


def _busy(out: Path, who: Holder) -> str:
    return (f"--out {out} is in use by another lbtui run ({who.describe()}); watch it with "
            f"'lbtui attach {out}', or give another --out")


def _write_holder(fd: int) -> None:
    data = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                       "started": time.strftime("%Y-%m-%d %H:%M:%S%z")}).encode()
    with contextlib.suppress(OSError):  # only the message of a refused run depends on it
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def _text(value: object, limit: int = 100) -> str:
    """A holder's field as one short printable line."""
    if not isinstance(value, str) or not value:
        return "?"
    return "".join(c if c.isprintable() else "?" for c in value[:limit])


def _make_folders(out: Path) -> list[Path]:
    """Create ``out`` and its missing parents; returns the folders made, outermost first."""
    missing = []
    probe = out
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    made = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
    except OSError as exc:
        _remove_folders(made)
        raise UsageError(f"--out {out}: cannot create {exc.filename or out}: {exc.strerror or exc}") from None
    return made


def _remove_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) where they are empty."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
