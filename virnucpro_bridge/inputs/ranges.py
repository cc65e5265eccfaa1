"""Record-range bookkeeping: which parts of a file are done, exactly once.

A file of N records is done when the ranges [start, start + count) of its
finished pieces tile [0, N): no gap, no overlap. Pieces come from the plan,
from cuts made in flight, and from earlier runs (resume), so nothing here
assumes the pieces of a file were cut the same way twice.
"""

from __future__ import annotations

import bisect
from typing import Generic, Iterable, TypeVar

T = TypeVar("T")


class OverlapError(ValueError):
    """A range was recorded twice: some records would be counted twice."""


class Coverage(Generic[T]):
    """The finished ranges of one file of ``records`` records, each with a payload."""

    def __init__(self, records: int) -> None:
        self.records = records
        self._starts: list[int] = []
        self._pieces: list[tuple[int, int, T]] = []  # (start, count, payload), sorted by start
        self.covered = 0

    def overlaps(self, start: int, count: int) -> bool:
        i = bisect.bisect_right(self._starts, start)
        if i > 0:
            s, c, _ = self._pieces[i - 1]
            if s + c > start:
                return True
        return i < len(self._pieces) and self._pieces[i][0] < start + count

    def add(self, start: int, count: int, payload: T) -> None:
        """Record [start, start + count) as done; a second claim on a record raises."""
        if count < 1 or start < 0 or start + count > self.records:
            raise OverlapError(f"range [{start}, {start + count}) outside [0, {self.records})")
        if self.overlaps(start, count):
            raise OverlapError(f"range [{start}, {start + count}) overlaps one already done")
        i = bisect.bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._pieces.insert(i, (start, count, payload))
        self.covered += count

    @property
    def complete(self) -> bool:
        return self.covered == self.records

    def pieces(self) -> list[tuple[int, int, T]]:
        """Done ranges in input order."""
        return list(self._pieces)

    def gaps(self) -> list[tuple[int, int]]:
        """Ranges not done yet, as (start, count), in input order."""
        out, at = [], 0
        for s, c, _ in self._pieces:
            if s > at:
                out.append((at, s - at))
            at = s + c
        if at < self.records:
            out.append((at, self.records - at))
        return out


def keep_tiling(records: int, ranges: Iterable[tuple[int, int, T]]) -> Coverage[T]:
    """From earlier runs' ranges (most trusted first), keep those that do not overlap
    one already kept: the result never claims a record twice."""
    cov: Coverage[T] = Coverage(records)
    for start, count, payload in ranges:
        if count >= 1 and start >= 0 and start + count <= records and not cov.overlaps(start, count):
            cov.add(start, count, payload)
    return cov
