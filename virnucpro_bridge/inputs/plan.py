"""Cutting the inputs into the run's units: scan every file, plan pieces by work.

    files ─▶ fasta.scan (counts, sha256, RecordIndex with long records)
          ─▶ gaps still to do (resume's kept spans removed)
          ─▶ policy.planning.factoring_costs: piece costs in residues
          ─▶ cut points nearest those costs (record starts; parts of long records)
          ─▶ Units, each with a seek point

``devices`` = 0 is ``--no-split``: fixed pieces of ``shard_size`` records (or
of ``cap`` residues), cut at record boundaries only.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from ..errors import UsageError
from ..policy.planning import factoring_costs
from . import fasta
from .ranges import Coverage
from .record_index import INDEX_STRIDE, RecordIndex
from .units import Unit
from .work import Parts, Position, Work


@dataclass(frozen=True)
class UnitPlan:
    units: list[Unit]
    warnings: list[str]
    # By input path, only where the index knows more than a unit does (RecordIndex.needed):
    # offsets and long records for cutting units anywhere.
    indexes: dict[str, RecordIndex]
    wholes: list[Unit] = field(default_factory=list)  # one unit per non-empty file, covering all of it


# Spans of a file an earlier run finished (resume), as (begin, stop) positions, given its whole-file unit.
DoneSpans = Callable[[Unit], Sequence[tuple[tuple[int, int], tuple[int, int]]]]
Segment = tuple[int, Position, Position | None]  # (file number, begin, stop) still to do
ORIGIN = Position(0, 0)


class _Left:
    """What is left to plan, one segment per file or per gap of a resumed file, with its cost.

    Kept small for runs over many files (50,000 small files: 50,000 segments):
    a whole file is its number alone (no tuple each), a gap ``(file number,
    begin, stop)``; costs are C doubles (``array('d')``), not float objects.
    ``piece_costs`` frees the costs once turned into piece costs (the numbers:
    docs/decisions.md).
    """

    def __init__(self) -> None:
        self.segments: list[int | Segment] = []
        self.costs = array("d")

    def add(self, n: int, cost: float, begin: Position = ORIGIN, stop: Position | None = None) -> None:
        self.segments.append(n if stop is None else (n, begin, stop))
        self.costs.append(cost)

    def piece_costs(self, pieces: Callable[[Sequence[float]], list[list[float]]]) -> list[list[float]]:
        sizes, self.costs = pieces(self.costs), array("d")
        return sizes

    def __iter__(self) -> Iterator[Segment]:
        for segment in self.segments:
            yield (segment, ORIGIN, None) if isinstance(segment, int) else segment


def plan_units(
    files: Sequence[tuple[str, str]],
    shard_size: int = 10_000,
    *,
    cache_dir: str | None = None,
    stride: int = INDEX_STRIDE,
    devices: int = 0,
    cap: float = math.inf,
    floor: float = 0.0,
    floor_records: int = 0,
    parts: Parts | None = None,
    done: DoneSpans | None = None,
    alphabet: fasta.Alphabet | None = None,
) -> UnitPlan:
    """Scan each file and cut what is left to do into units that know where they start.

    The rule: with ``devices`` > 0, factoring over that many devices
    (``policy.planning.factoring_costs``: pieces shrink geometrically, the
    largest files first), records longer than a piece cut into ``parts``
    ranges; with ``devices`` = 0 (``--no-split``), pieces of ``cap`` residues
    or ``shard_size`` records. ``shard_size`` caps a piece in records and ``cap``
    in residues; ``floor`` (residues) and ``floor_records`` (records of the
    inputs' mean length) set the smallest piece. ``done`` names spans an earlier
    run finished (resume): only the gaps between them are planned. ``alphabet``:
    the letters the task reads; a file of others is refused (InputError).
    """
    if shard_size < 1:
        raise UsageError(f"--shard-size {shard_size}: must be at least 1")
    warnings: list[str] = []
    indexes: dict[str, RecordIndex] = {}
    wholes: list[Unit] = []
    planned: list[Unit | list[Unit] | None] = []  # per file: its units once known (a lone unit as is)
    left = _Left()
    records = residues = 0
    for path, rel in files:
        stat = fasta.scan(path, shard_size, cache_dir=cache_dir, stride=stride, alphabet=alphabet)
        if not stat.sequences:
            warnings.append(f"{rel}: empty FASTA file, skipped")
            continue
        records, residues = records + stat.sequences, residues + stat.residues
        index = stat.index
        first = stat.shards[0]
        seek = index.point(first.start, first.offset) if index is not None else None
        whole = Unit(rel, path, rel, 0, 1, 0, stat.sequences, stat.residues, stat.sha256, seek)
        n = len(wholes)
        wholes.append(whole)
        planned.append(None)
        kept = done(whole) if done is not None else ()
        if devices <= 0 and not kept and math.isinf(cap):
            shards = _scan_shards(whole, stat.shards, index)  # exact residues and seek points
            planned[n] = shards[0] if len(shards) == 1 else shards
        elif not kept:
            left.add(n, float(whole.residues))
        index = index if index is not None and index.needed else None
        if kept:
            work = _work(whole, index, parts if devices > 0 else None)
            gaps: Coverage[None] = Coverage(whole.count)
            for b, e in kept:
                gaps.add(b, e, None)
            for b, e in gaps.gaps():
                left.add(n, work.cost(b, e), Position(*b), Position(*e))
        if index is not None:
            indexes[path] = index
    if devices > 0:
        floor = max(floor, floor_records * residues / max(1, records))
        sizes = left.piece_costs(lambda costs: factoring_costs(costs, devices, cap=cap, floor=floor))
    else:
        sizes = left.piece_costs(lambda costs: [_fixed_pieces(c, cap) for c in costs])
    for (n, begin, stop), pieces in zip(left, sizes, strict=True):
        whole = wholes[n]
        if stop is None and len(pieces) == 1 and whole.count <= shard_size:
            planned[n] = whole  # never cut: the whole file is its unit (uid rel)
            continue
        index = indexes.get(whole.path)
        work = _work(whole, index, parts if devices > 0 else None)
        end = stop if stop is not None else Position(whole.count, 0)
        got = _pieces(whole, work, begin, _cut_points(work, begin, end, pieces, shard_size), index)
        into = planned[n]
        if into is None:
            planned[n] = got
        else:  # a file planned whole (a lone unit) has no segments: only lists get more
            assert isinstance(into, list)
            into += got
    del left, sizes
    return UnitPlan(_numbered(planned), warnings, indexes, wholes)


def _fixed_pieces(cost: float, cap: float) -> list[float]:
    """--no-split: pieces of ``cap`` residues (the last one what is left), or one piece
    that ``_cut_points`` then cuts every ``shard_size`` records."""
    return [cost] if math.isinf(cap) else [cap] * max(0, math.ceil(cost / cap) - 1) + [cost % cap or cap]


def _numbered(planned: Sequence[Unit | list[Unit] | None]) -> list[Unit]:
    """Every file's units in file order; pieces cut here are named by their number in this plan."""
    units: list[Unit] = []
    for entry in planned:
        if isinstance(entry, Unit):
            units.append(entry)
        elif entry:
            if entry[0].uid == entry[0].rel:  # cut pieces (fixed shards come named)
                entry = [replace(u, uid=f"{u.rel}#{k}", shard=k, shards=len(entry)) for k, u in enumerate(entry)]
            units += entry
    return units


def _work(whole: Unit, index: RecordIndex | None, parts: Parts | None) -> Work:
    return Work(index, parts, records_hint=whole.count, residues_hint=whole.residues)


def _scan_shards(whole: Unit, shards: Sequence[fasta.ShardStat], index: RecordIndex | None) -> list[Unit]:
    n = len(shards)
    return [replace(whole, uid=whole.rel if n == 1 else f"{whole.rel}#{i}", shard=i, shards=n,
                    start=sh.start, count=sh.count, residues=sh.residues,
                    seek=index.point(sh.start, sh.offset) if index is not None else None)
            for i, sh in enumerate(shards)]


def _cut_points(work: Work, begin: Position, stop: Position, pieces: Sequence[float],
                max_records: int) -> list[Position]:
    """Where a segment's pieces end: nearest the planned costs (each target counted
    from the segment's start, so rounding never accumulates), then no piece
    touching more than ``max_records`` records."""
    at, target, ends = begin, work.before(begin), []
    for cost in pieces[:-1]:
        target += cost
        p = work.nearest(target, at, stop)
        if at < p < stop:
            ends.append(p)
            at = p
    ends.append(stop)
    capped, at = [], begin
    for end in ends:
        while end.record + (1 if end.part else 0) - at.record > max_records:
            at = Position(at.record + max_records, 0)
            capped.append(at)
        capped.append(end)
        at = end
    return capped


def _pieces(whole: Unit, work: Work, begin: Position, ends: Sequence[Position],
            index: RecordIndex | None) -> list[Unit]:
    """The units between ``begin`` and each of ``ends`` in turn, each with a seek point."""
    units, at = [], begin
    for end in ends:
        residues = round(work.before(end)) - round(work.before(at))
        seek = index.seek_point(at.record) if index is not None else whole.seek
        count = end.record - at.record + (1 if end.part else 0)
        units.append(replace(whole, start=at.record, part=at.part, count=count, end_part=end.part,
                             residues=max(0, residues), seek=seek))
        at = end
    return units

