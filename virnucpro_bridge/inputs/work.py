"""Positions inside a FASTA file, and the estimated work between two of them.

A position is ``(record, part)``: the start of part ``part`` of record
``record`` (0-based), where a task cuts each record into parts at which its
results never straddle (VirNucPro: its 300 or 500 bp chunks; a task that
declares no parts has one per record). ``(r, 0)`` is record ``r``'s start, and
the end of a file of N records is ``(N, 0)``. Positions order as tuples, so a
unit is the span ``[begin, stop)`` and units tile a file when their spans do.

:class:`Work` prices spans in residues (the scheduler's cost unit) and finds
the cut points nearest to a given amount of work: record starts everywhere,
and part starts inside the records long enough to be listed in the file's
``RecordIndex`` (shorter ones take under a second on any device: a cut at the
next record is as good).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .record_index import RecordIndex

Parts = Callable[[int], int]  # residues of a record -> its parts (Task.parts); at least 1


class Position(NamedTuple):
    record: int
    part: int = 0


def records_started(begin: tuple[int, int], stop: tuple[int, int]) -> int:
    """Records whose first part lies in ``[begin, stop)``: what a span counts as
    sequences, so the pieces of one cut record add up to one."""
    return (stop[0] + (1 if stop[1] else 0)) - (begin[0] + (1 if begin[1] else 0))


def span_text(begin: tuple[int, int], stop: tuple[int, int], sep: str = "–") -> str:
    """``1,200–2,000`` for whole records; ``5p120–6`` when a bound falls inside record 5."""
    def one(pos: tuple[int, int]) -> str:
        return f"{pos[0]:,}" + (f"p{pos[1]}" if pos[1] else "")
    return f"{one(begin)}{sep}{one(stop)}"


class Work:
    """Estimated residues between positions of one file, and cut points near a cost.

    ``index`` is the file's ``RecordIndex`` (None for a small file without one:
    residues then spread evenly over ``records_hint`` records holding
    ``residues_hint``); ``parts`` is the task's rule (None: records are never cut).
    """

    def __init__(self, index: RecordIndex | None, parts: Parts | None = None, *,
                 first: int = 0, records_hint: int = 1, residues_hint: float = 0.0) -> None:
        self.index = index
        self.parts = parts
        self._first = first  # without an index: the record the hint's residues start at
        self._per = residues_hint / max(1, records_hint)

    # -- cost ---------------------------------------------------------------------
    def before_record(self, record: int) -> float:
        """Residues before ``record``'s start (from the file's start, or the hint's)."""
        if self.index is not None:
            return self.index.residues_before(min(max(record, 0), self.index.records))
        return (record - self._first) * self._per

    def _record(self, record: int) -> tuple[float, int, bool]:
        """``record``'s residues, its parts, and whether it may be cut inside."""
        exact = self.index.length(record) if self.index is not None else None
        length = float(exact) if exact is not None else self.before_record(record + 1) - self.before_record(record)
        n = max(1, int(self.parts(round(length)))) if self.parts is not None else 1
        return length, n, exact is not None and n > 1

    def before(self, pos: tuple[int, int]) -> float:
        """Residues before position ``pos``."""
        record, part = pos
        base = self.before_record(record)
        if not part:
            return base
        length, n, _ = self._record(record)
        return base + length * min(part, n) / n

    def cost(self, begin: tuple[int, int], stop: tuple[int, int]) -> float:
        return max(0.0, self.before(stop) - self.before(begin))

    # -- cut points ----------------------------------------------------------------
    def around(self, cost: float, lo: tuple[int, int], hi: tuple[int, int]) -> tuple[Position, Position]:
        """The cut points just at or below and just above residues ``cost`` (as
        ``before`` counts them), both within ``[lo, hi]``."""
        a, b = lo[0], hi[0]
        while a < b:  # the last record in [lo, hi] that starts at or before ``cost``
            mid = (a + b + 1) // 2
            if self.before_record(mid) <= cost:
                a = mid
            else:
                b = mid - 1
        record = a
        down, up = Position(record, 0), Position(record + 1, 0)
        length, n, cuttable = self._record(record)
        if cuttable and length > 0:
            part = int((cost - self.before_record(record)) / length * n)
            part = min(max(part, 0), n - 1)
            down = Position(record, part)
            up = Position(record, part + 1) if part + 1 < n else Position(record + 1, 0)
        lo_p, hi_p = Position(*lo), Position(*hi)
        return max(down, lo_p) if down < hi_p else hi_p, min(max(up, lo_p), hi_p)

    def nearest(self, cost: float, lo: tuple[int, int], hi: tuple[int, int]) -> Position:
        """The cut point in ``[lo, hi]`` whose residues before are nearest ``cost``."""
        down, up = self.around(cost, lo, hi)
        return down if cost - self.before(down) <= self.before(up) - cost else up
