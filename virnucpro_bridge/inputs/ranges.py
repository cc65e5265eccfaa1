"""Span bookkeeping: which parts of a file are done, exactly once.

A file of N records is done when the spans ``[begin, stop)`` of its finished
pieces, in positions ``(record, part)`` (see ``work``), tile ``[(0, 0), (N, 0))``:
no gap, no overlap. Pieces come from the plan, from cuts made in flight (at a
record or inside one), and from earlier runs (resume), so nothing here assumes
the pieces of a file were cut the same way twice.

Completeness needs no knowledge of how many parts a record has: positions
map into integers in order (``record << 32 | part``), and spans that do not
overlap cover ``[0, N << 32)`` exactly when their lengths there add up to it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Pos = tuple[int, int]
_PART_BITS = 32  # a record has far fewer than 2^32 parts (a 4 Gb record in 300 bp chunks: 2^24)


class OverlapError(ValueError):
    """A span was recorded twice: some records would be counted twice."""


def _pos(pos: Sequence[int]) -> Pos:
    """``pos`` as the tuple that compares with other positions (a list does not)."""
    return (pos[0], pos[1])


def _key(pos: Pos) -> int:
    return (pos[0] << _PART_BITS) | pos[1]


class Coverage(Generic[T]):
    """The finished spans of one file of ``records`` records, each with a payload."""

    __slots__ = ("records", "_begins", "_pieces", "_covered")

    def __init__(self, records: int) -> None:
        self.records = records
        self._begins: list[Pos] = []
        self._pieces: list[tuple[Pos, Pos, T]] = []  # (begin, stop, payload), sorted by begin
        self._covered = 0  # total length of the spans, in _key units

    def overlaps(self, begin: Pos, stop: Pos) -> bool:
        i = bisect.bisect_right(self._begins, begin)
        if i > 0 and self._pieces[i - 1][1] > begin:
            return True
        return i < len(self._pieces) and self._pieces[i][0] < stop

    def add(self, begin: Pos, stop: Pos, payload: T) -> None:
        """Record ``[begin, stop)`` as done; a second claim on any part of it raises."""
        begin, stop = _pos(begin), _pos(stop)
        if not (0, 0) <= begin < stop <= (self.records, 0) or begin[1] < 0 or stop[1] < 0:
            raise OverlapError(f"span {begin}–{stop} outside (0, 0)–({self.records}, 0)")
        if self.overlaps(begin, stop):
            raise OverlapError(f"span {begin}–{stop} overlaps one already done")
        i = bisect.bisect_right(self._begins, begin)
        self._begins.insert(i, begin)
        self._pieces.insert(i, (begin, stop, payload))
        self._covered += _key(stop) - _key(begin)

    @property
    def complete(self) -> bool:
        return self._covered == self.records << _PART_BITS

    @property
    def empty(self) -> bool:
        return not self._pieces

    def pieces(self) -> list[tuple[Pos, Pos, T]]:
        """Done spans in input order."""
        return list(self._pieces)

    def gaps(self) -> list[tuple[Pos, Pos]]:
        """Spans not done yet, in input order."""
        out: list[tuple[Pos, Pos]] = []
        at: Pos = (0, 0)
        for begin, stop, _ in self._pieces:
            if begin > at:
                out.append((at, begin))
            at = stop
        if at < (self.records, 0):
            out.append((at, (self.records, 0)))
        return out

