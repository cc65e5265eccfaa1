"""Where each record of a FASTA file starts, so any record range can be read by seeking.

The scan passes every record once; it keeps the byte offset of every
``stride``-th record (and the residues before it) in two compact arrays.
Reading record ``k`` seeks to the indexed record at or before ``k`` and skips
fewer than ``stride`` records (at 256 a stride, a 10 GB assembly of 30 million
contigs indexes in about 2 MB, in the main process); a unit carries one
``SeekPoint`` to its worker. Offsets count bytes of the FASTA *text*: the file
when plain, the decompressed stream when gzip (``gzip_cache`` makes it seekable).

Records of ``LONG_RECORD`` residues or more are also listed with their exact
lengths: they are the ones worth cutting inside (a task's parts, e.g. VirNucPro's
chunks), and knowing them makes the residues between index entries exact where
it matters most (a file of a few complete genomes).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

INDEX_STRIDE = 256  # records between index entries: ~60 KB skipped at most, 16 B per entry
# Records this long are listed with their lengths (16 B each). Shorter records are
# never cut inside: under a second of work on any device, so a cut at the next
# record boundary is as good; a 10 GB assembly has few records this long.
LONG_RECORD = 16_384
_NONE: tuple = ()  # shared by every index without long records or gzip members: no array each


@dataclass(frozen=True, slots=True)
class SeekPoint:
    """A record start to read from, and what the file looked like when it was found."""

    record: int  # index of the record starting at ``offset`` (at or before the unit's start)
    offset: int  # its byte offset in the FASTA text (decompressed text for gzip)
    size: int  # input file size in bytes at scan time
    mtime_ns: int  # input file modification time at scan time
    cache: str = ""  # gzip: the seekable copy (see gzip_cache); "" for a plain file
    member: int = 0  # gzip: byte offset in ``cache`` of the member holding ``offset``
    member_start: int = 0  # gzip: text offset where that member's text begins

    def __reduce__(self):  # pickled with every unit: a plain tuple, not the slots protocol's field walk
        return (SeekPoint, (self.record, self.offset, self.size, self.mtime_ns, self.cache, self.member,
                            self.member_start))


class RecordIndex:
    """Offsets (and cumulative residues) of every ``stride``-th record of one file."""

    __slots__ = ("path", "records", "total_residues", "size", "mtime_ns", "stride", "offsets",
                 "residues", "cache", "members", "member_size", "long_records", "long_before")

    def __init__(
        self,
        path: str,
        records: int,
        total_residues: int,
        size: int,
        mtime_ns: int,
        offsets: array,
        residues: array,
        stride: int = INDEX_STRIDE,
        cache: str = "",
        members: array | None = None,
        member_size: int = 0,
        long_records: Sequence[int] = _NONE,
        long_lengths: Sequence[int] = _NONE,
    ) -> None:
        expected = (records + stride - 1) // stride
        if len(offsets) != expected or len(residues) != expected:
            raise ValueError(f"{path}: index holds {len(offsets)} entries, {expected} expected")
        if cache and (member_size < 1 or not members):
            raise ValueError(f"{path}: a gzip cache needs its member table")
        self.path = path
        self.records = records  # records in the file
        self.total_residues = total_residues
        self.size = size
        self.mtime_ns = mtime_ns
        self.stride = stride
        self.offsets = offsets  # offsets[i]: text offset of record i * stride
        self.residues = residues  # residues[i]: residues in records before i * stride
        self.cache = cache
        self.members = members if members else _NONE
        self.member_size = member_size  # text bytes per cache member (the last may be shorter)
        if len(long_records) != len(long_lengths):
            raise ValueError(f"{path}: long-record table is torn")
        self.long_records = array("Q", long_records) if long_records else _NONE  # ascending
        before = array("Q", [0])  # long_before[j]: residues of long records 0 .. j-1
        for n in long_lengths:
            before.append(before[-1] + n)
        self.long_before = before if long_records else _NONE

    @property
    def needed(self) -> bool:
        """False when the index knows nothing a unit's own counts do not: one
        stretch of records, none of them long, no gzip copy. Then cutting and
        costs work as well without it, and the main process need not keep it."""
        return self.records > self.stride or bool(self.long_records) or bool(self.cache)

    def length(self, record: int) -> int | None:
        """The exact residues of ``record`` when it is a long one, else None."""
        j = bisect.bisect_left(self.long_records, record)
        if j < len(self.long_records) and self.long_records[j] == record:
            return self.long_before[j + 1] - self.long_before[j]
        return None

    def _long(self, a: int, b: int) -> tuple[int, int]:
        """How many long records lie in [a, b), and their residues."""
        i, j = bisect.bisect_left(self.long_records, a), bisect.bisect_left(self.long_records, b)
        return j - i, (self.long_before[j] - self.long_before[i]) if j > i else 0

    def offset_at(self, record: int) -> tuple[int, int]:
        """The indexed record at or before ``record``, and its text offset."""
        if not 0 <= record < self.records:
            raise IndexError(f"record {record} outside 0..{self.records - 1}")
        i = record // self.stride
        return i * self.stride, self.offsets[i]

    def point(self, record: int, offset: int) -> SeekPoint:
        """A SeekPoint for a record known to start at ``offset``."""
        if not self.cache:
            return SeekPoint(record, offset, self.size, self.mtime_ns)
        j = offset // self.member_size
        return SeekPoint(record, offset, self.size, self.mtime_ns,
                         self.cache, self.members[j], j * self.member_size)

    def seek_point(self, record: int) -> SeekPoint:
        """Where to start reading so that ``record`` is at most ``stride - 1`` records away."""
        return self.point(*self.offset_at(record))

    def residues_before(self, record: int) -> float:
        """Residues in records ``0 .. record - 1``: exact at index entries and around
        long records, interpolated over the short records between."""
        if not 0 <= record <= self.records:
            raise IndexError(f"record {record} outside 0..{self.records}")
        i, within = divmod(record, self.stride)
        if i >= len(self.residues):  # record == records, on a stride boundary
            i, within = len(self.residues) - 1, self.stride
        lo = self.residues[i]
        if not within:
            return float(lo)
        nxt = i + 1
        if nxt < len(self.residues):
            span, hi = self.stride, self.residues[nxt]
        else:  # last stretch ends at the file's total
            span, hi = self.records - i * self.stride, self.total_residues
        if not self.long_records:
            return lo + (hi - lo) * within / span
        first = i * self.stride
        n_all, long_all = self._long(first, first + span)
        n_before, long_before = self._long(first, record)
        short_all = span - n_all
        short = (hi - lo - long_all) * (within - n_before) / short_all if short_all else 0.0
        return lo + long_before + short

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays: what the main process pays per file."""
        arrays = (self.offsets, self.residues, self.members, self.long_records, self.long_before)
        return sum(a.itemsize * len(a) for a in arrays if isinstance(a, array))
