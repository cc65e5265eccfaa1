"""Atomic file writes: a result is either whole or absent, never half-written.

Write to a temp file in the same directory, flush, then ``os.replace`` onto
the final name. A process killed mid-write leaves only a ``.tmp-*`` file,
which readers ignore and the next run removes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", *, fsync: bool = False) -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it onto ``path`` on success.

    ``fsync=False`` by default: rename-after-write already survives a killed
    process; fsync only adds power-loss durability, at a cost per file that
    dominates small units.
    """
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports 'w' and 'wb'")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix="-" + target.name, dir=target.parent)
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> None:
    with atomic_open(path, "w", fsync=fsync) as fh:
        fh.write(text)


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
