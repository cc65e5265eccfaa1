"""A seekable copy of a gzip FASTA: its text re-cut into independent 1 MiB gzip members.

A gzip stream decodes only from its start. While the scan decompresses the
input anyway, this module compresses the text again in ``MEMBER_SIZE``
pieces, each a complete gzip member, into a private cache folder (never next
to the input: inputs may be read-only). Reading text offset ``x`` seeks to
member ``x // MEMBER_SIZE`` and decodes less than 1 MiB before ``x``; a unit
carries one member offset, so a worker needs no index. The copy is a valid
multi-member gzip file, written atomically under the input's sha256, and
byte-identical for the same input (fixed member size, level and header
mtime), so concurrent runs agree. Compression runs in a thread (zlib
releases the GIL) beside the scan's parsing. Why members, not an index or a
decompressed copy: docs/decisions.md. Copies live in ``default_dir()``
(``~/.cache/lbtui/gzip``) unless the caller names a folder; each scan
rewrites the copy it uses, and copies unwritten for two weeks are removed
when another is written. A missing copy only makes reads parse from the top.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import time
from array import array
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import BinaryIO

MEMBER_SIZE = 1 << 20  # text bytes per member: at most 1 MiB decoded to reach any offset
LEVEL = 1  # fastest zlib level: the copy is a cache, size matters less than scan time
MAX_PENDING = 4  # members queued for the compressing thread: bounds memory to a few MiB
KEEP_S = 14 * 24 * 3600  # copies unused this long are removed when another is written
SUFFIX = ".members.gz"


def default_dir() -> str:
    """``$LBTUI_CACHE_DIR``, else ``$XDG_CACHE_HOME/lbtui``, else ``~/.cache/lbtui``; + /gzip."""
    root = os.environ.get("LBTUI_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "lbtui"
    )
    return os.path.join(root, "gzip")


class MemberWriter:
    """Collects the text as the scan reads it; writes the member copy in a thread.

    A failed write (disk full) never fails the scan: the copy is dropped and
    ``finish`` returns "", so reads of that file parse from the top.
    """

    @classmethod
    def open(cls, folder: str | None) -> MemberWriter | None:
        """A writer into ``folder``; None without a folder or when it cannot be written."""
        if folder is None:
            return None
        try:
            return cls(folder)
        except OSError:
            return None

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        fd, self._tmp = tempfile.mkstemp(prefix=".part-", suffix=SUFFIX, dir=folder)
        self._out = os.fdopen(fd, "wb")
        self.members = array("Q")  # byte offset of each member in the copy
        self._pending = bytearray()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gzip-cache")
        self._queue: list[Future[None]] = []
        self.failed = False

    def write(self, data: bytes | memoryview) -> None:
        if self.failed:
            return
        self._pending += data
        while len(self._pending) >= MEMBER_SIZE:
            self._submit(bytes(self._pending[:MEMBER_SIZE]))
            del self._pending[:MEMBER_SIZE]

    def _submit(self, text: bytes) -> None:
        self._queue.append(self._pool.submit(self._member, text))
        while len(self._queue) > MAX_PENDING:
            self._queue.pop(0).result()

    def _member(self, text: bytes) -> None:
        # Runs on the single thread, so members are written in order.
        if self.failed:
            return
        try:
            self.members.append(self._out.tell())
            self._out.write(gzip.compress(text, LEVEL, mtime=0))
        except OSError:
            self.failed = True

    def finish(self, sha256: str) -> str:
        """Flush and name the copy after the input's hash, atomically: its path, or ""."""
        if self._pending or not (self.members or self._queue):  # an empty text: one empty member
            self._submit(bytes(self._pending))
            self._pending.clear()
        path = os.path.join(self.folder, sha256 + SUFFIX)
        try:
            for f in self._queue:
                f.result()
            self._out.flush()
            os.fsync(self._out.fileno())
            self._close()
            if self.failed:
                raise OSError("cache copy not written")
            os.replace(self._tmp, path)
        except OSError:
            self.abort()
            return ""
        _prune(self.folder, keep=path)
        return path

    def abort(self) -> None:
        """Drop the partial copy (the scan failed)."""
        self._close()
        try:
            os.unlink(self._tmp)
        except OSError:
            pass

    def _close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self._out.close()
        except OSError:
            self.failed = True


class Tee(io.RawIOBase):
    """Hands the decompressed text to a MemberWriter as the scan reads it."""

    def __init__(self, f: BinaryIO, writer: MemberWriter) -> None:
        self._f = f
        self._writer = writer

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self._f.readinto(buffer)
        if n:
            self._writer.write(memoryview(buffer)[:n])
        return n or 0


def _prune(folder: str, keep: str) -> None:
    """Remove copies nobody wrote for KEEP_S: a rescan rewrites the copies it uses."""
    cutoff = time.time() - KEEP_S
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if e.name.endswith(SUFFIX) and e.path != keep and e.stat().st_mtime < cutoff:
                    os.unlink(e.path)
    except OSError:
        pass  # another run pruning at the same time, or a read-only folder: harmless


@contextmanager
def open_at(cache: str, member: int, member_start: int, offset: int) -> Iterator[BinaryIO]:
    """The copy's text from ``offset`` on (``member`` holds it and starts at ``member_start``)."""
    with open(cache, "rb") as f:
        f.seek(member)
        with gzip.GzipFile(fileobj=f, mode="rb") as text:
            text.seek(offset - member_start)
            yield text  # type: ignore[misc]
