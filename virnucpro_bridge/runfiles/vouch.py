"""Vouching for a result file: is it still, byte for byte, what its unit wrote?

The worker that writes a unit's result hashes it (``digest``) and the manifest line
records the sha256 and size beside the result's path. Whoever later trusts that line
(a resume keeping the unit, ``lbtui verify``) checks the file first (``check``): a
result emptied, overwritten, swapped with another unit's or replaced by a link is not
kept. A path from the manifest is text from a file: it must name a file inside the
run folder, and the file is opened without following a link and without blocking.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .manifest import ManifestEntry

READ_BLOCK = 1 << 20

# Why a result cannot be vouched for (keys of Resume.redo and of summary.json's "resume").
MISSING = "missing"
NOT_REGULAR = "not a regular file"
CHANGED = "changed since it was written"
UNCHECKED = "no checksum recorded"  # a manifest line lbtui did not write whole
OUTSIDE = "outside the run folder"


def digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """sha256 (hex) and size of the regular file at ``path``; OSError for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(f"{os.fspath(path)}: not a regular file")
        h, size = hashlib.sha256(), 0
        while block := os.read(fd, READ_BLOCK):
            h.update(block)
            size += len(block)
        return h.hexdigest(), size
    finally:
        os.close(fd)


def digest_bytes(data: bytes) -> tuple[str, int]:
    """What ``digest`` gives for a file holding ``data``."""
    return hashlib.sha256(data).hexdigest(), len(data)


def inside(out: Path, rel: str) -> Path | None:
    """``out / rel`` when ``rel`` is a relative path that stays inside ``out`` (no ``..``,
    no absolute path, no link among its folders leading out), else None."""
    if not rel or os.path.isabs(rel) or ".." in Path(rel).parts:
        return None
    path = out / rel
    root, folder = os.path.realpath(out), os.path.realpath(path.parent)
    return path if folder == root or folder.startswith(root + os.sep) else None


def check(out: Path, entry: ManifestEntry) -> str | None:
    """Why ``entry``'s result cannot be vouched for, or None when its bytes match."""
    path = inside(out, entry.output)
    if path is None:
        return OUTSIDE
    if not entry.output_sha256 or entry.output_size < 0:
        return UNCHECKED
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return MISSING
    except OSError:
        return NOT_REGULAR
    if not stat.S_ISREG(st.st_mode):
        return NOT_REGULAR
    if st.st_size != entry.output_size:
        return CHANGED  # no need to read it
    try:
        sha, size = digest(path)
    except FileNotFoundError:
        return MISSING
    except OSError:
        return NOT_REGULAR
    return None if (sha, size) == (entry.output_sha256, entry.output_size) else CHANGED
