"""Units of work: input discovery, sharding and cost estimates.

A unit is one input file, or one shard of a file holding more than
``--shard-size`` sequences. Its cost estimate is sequences × mean length
(= total residues) from a streaming scan; nothing else about the file is
known to the scheduler.

Each unit also carries a ``SeekPoint`` (where its first record, or one
shortly before it, starts in the file), so ``read_unit`` costs the unit's
size, not its position. ``plan_units`` keeps each file's ``RecordIndex`` in
the main process so ``split_unit`` can cut a unit at any record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

from ..errors import InputError, UsageError
from ..policy.planning import MIN_PIECE_RECORDS, factoring_pieces, fixed_pieces
from . import fasta, gzip_cache
from .ranges import Coverage
from .record_index import INDEX_STRIDE, RecordIndex, SeekPoint


@dataclass(frozen=True)
class Unit:
    # "rel/path.fa"; "rel/path.fa#2" (0-based piece) when the plan cut the file;
    # "rel/path.fa[25000:50000]" for a piece cut in flight
    uid: str
    path: str  # absolute path of the input file
    rel: str  # path relative to the inputs' common root; names outputs
    shard: int  # 0-based piece of this file in this run's plan (a piece cut in flight keeps its parent's)
    shards: int  # pieces of this file in this run's plan
    start: int  # index of this unit's first record in the file
    count: int  # records (sequences) in this unit
    residues: int  # sum of sequence lengths in this unit
    sha256: str  # content hash of the whole input file (resume key)
    # Where reading may start: a record at or before ``start``; None = parse from the top.
    seek: SeekPoint | None = field(default=None, compare=False)
    split_from: str = ""  # uid of the unit this one was cut from in flight ("" for a planned unit)

    @property
    def end(self) -> int:
        return self.start + self.count

    @property
    def whole(self) -> bool:
        """The unit is its whole file (planned uncut): its result needs no range in its name."""
        return self.uid == self.rel

    @property
    def sequences(self) -> int:
        return self.count

    @property
    def cost(self) -> float:
        """Estimated work: sequences × mean length, i.e. residues."""
        return float(self.residues)


# Input suffixes searched for in folders (compared case-insensitively).
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".faa", ".ffn")
_SEARCH_SUFFIXES = FASTA_SUFFIXES + tuple(s + ".gz" for s in FASTA_SUFFIXES)


def _is_fasta_name(name: str) -> bool:
    return name.lower().endswith(_SEARCH_SUFFIXES)


def _walk(folder: str) -> list[str]:
    """FASTA files under ``folder``, recursively; an unreadable subfolder is an error."""

    def fail(err: OSError) -> None:
        reason = (err.strerror or "cannot read").lower()
        raise InputError(f"{err.filename}: {reason}")

    found = []
    for root, dirs, names in os.walk(folder, onerror=fail):
        dirs.sort()
        found.extend(os.path.join(root, n) for n in sorted(names) if _is_fasta_name(n))
    return found


def discover(inputs: Sequence[str]) -> list[tuple[str, str]]:
    """Resolve INPUTS (files and folders) into ``(absolute path, rel)`` pairs, sorted by rel.

    ``rel`` is relative to the common parent of the inputs themselves (a folder
    counts as its own root, a file as its parent), so adding files to a folder
    never renames the ones already there: resume matches units by ``rel``.
    """
    if not inputs:
        raise InputError("no inputs given")
    found: list[str] = []
    roots: list[str] = []
    for given in inputs:
        p = os.path.abspath(given)
        if not os.path.exists(p):
            raise InputError(f"{given}: no such file or directory")
        if os.path.isdir(p):
            if not os.access(p, os.R_OK | os.X_OK):
                raise InputError(f"{given}: permission denied")
            files = _walk(p)
            if files:
                roots.append(p)
        else:
            if not os.access(p, os.R_OK):
                raise InputError(f"{given}: permission denied")
            files = [p]
            roots.append(os.path.dirname(p))
        found.extend(files)
    seen: set[str] = set()
    unique = []
    for p in found:
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            unique.append(p)
    if not unique:
        raise InputError(f"no FASTA inputs found in: {', '.join(inputs)}")
    common = os.path.commonpath(roots)
    pairs = [(p, os.path.relpath(p, common).replace(os.sep, "/")) for p in unique]
    return sorted(pairs, key=lambda pair: pair[1])


@dataclass(frozen=True)
class UnitPlan:
    units: list[Unit]
    warnings: list[str]
    indexes: dict[str, RecordIndex]  # by input path: offsets for cutting units anywhere
    wholes: list[Unit] = field(default_factory=list)  # one unit per non-empty file, covering all of it


# Already-done ranges of a file, (start, count), given its whole-file unit (resume).
DoneRanges = Callable[[Unit], Sequence[tuple[int, int]]]


def plan_units(
    files: Sequence[tuple[str, str]],
    shard_size: int,
    *,
    cache_dir: str | None = None,
    stride: int = INDEX_STRIDE,
    devices: int = 0,
    min_records: int = MIN_PIECE_RECORDS,
    done: DoneRanges | None = None,
) -> UnitPlan:
    """Scan each file and cut what is left to do into units that know where they start.

    ``devices`` = 0: fixed pieces of ``shard_size`` records (``--no-split``).
    Otherwise factoring over that many devices (see ``planning``), with
    ``shard_size`` as an upper bound. ``done`` names ranges an earlier run
    finished (resume): only the gaps between them are planned.
    """
    if shard_size < 1:
        raise UsageError(f"--shard-size {shard_size}: must be at least 1")
    warnings: list[str] = []
    indexes: dict[str, RecordIndex] = {}
    wholes: list[Unit] = []
    fixed: list[Unit] = []
    segments: list[tuple[Unit, int, int]] = []  # (whole file, start, count) still to do
    for path, rel in files:
        stat = fasta.scan(path, shard_size, cache_dir=cache_dir, stride=stride)
        if not stat.sequences:
            warnings.append(f"{rel}: empty FASTA file, skipped")
            continue
        index = stat.index
        if index is not None:
            indexes[path] = index
        first = stat.shards[0]
        seek = index.point(first.start, first.offset) if index is not None else None
        whole = Unit(rel, path, rel, 0, 1, 0, stat.sequences, stat.residues, stat.sha256, seek)
        wholes.append(whole)
        gaps = Coverage(whole.count)
        for start, count in (done(whole) if done is not None else ()):
            gaps.add(start, count, None)
        if devices <= 0 and gaps.covered == 0:
            fixed += _scan_shards(whole, stat.shards, index)  # exact residues and seek points
        else:
            segments += [(whole, s, c) for s, c in gaps.gaps()]
    costs = [_range_cost(w, s, c, indexes.get(w.path)) for w, s, c in segments]
    if devices > 0:
        sizes = factoring_pieces([c for _, _, c in segments], costs, devices,
                                 shard_size=shard_size, min_records=min_records)
    else:
        sizes = [fixed_pieces(c, shard_size) for _, _, c in segments]
    units = fixed + _cut(segments, sizes, indexes)
    order = {w.rel: i for i, w in enumerate(wholes)}
    units.sort(key=lambda u: (order[u.rel], u.start))
    return UnitPlan(units, warnings, indexes, wholes)


def _scan_shards(whole: Unit, shards: Sequence[fasta.ShardStat], index: RecordIndex | None) -> list[Unit]:
    n = len(shards)
    return [replace(whole, uid=whole.rel if n == 1 else f"{whole.rel}#{i}", shard=i, shards=n,
                    start=sh.start, count=sh.count, residues=sh.residues,
                    seek=index.point(sh.start, sh.offset) if index is not None else None)
            for i, sh in enumerate(shards)]


def _range_cost(whole: Unit, start: int, count: int, index: RecordIndex | None) -> float:
    if index is None:
        return whole.residues * count / whole.count
    return index.residues_before(start + count) - index.residues_before(start)


def _cut(segments: Sequence[tuple[Unit, int, int]], sizes: Sequence[Sequence[int]],
         indexes: dict[str, RecordIndex]) -> list[Unit]:
    """Units for each segment's pieces; uid ``rel`` when one piece is the whole file, else ``rel#k``."""
    pieces: dict[str, list[Unit]] = {}
    for (whole, start, count), counts in zip(segments, sizes):
        index = indexes.get(whole.path)
        rest = whole
        if start > 0:
            rest = split_unit(rest, start, index)[1]
        if start + count < whole.count:
            rest = split_unit(rest, start + count, index)[0]
        for n in counts[:-1]:
            head, rest = split_unit(rest, rest.start + n, index)
            pieces.setdefault(whole.rel, []).append(head)
        pieces.setdefault(whole.rel, []).append(rest)
    units = []
    for rel, parts in pieces.items():
        if len(parts) == 1 and parts[0].uid == rel:  # never cut: the whole file
            units.append(parts[0])
            continue
        units += [replace(u, uid=f"{rel}#{k}", shard=k, shards=len(parts), split_from="")
                  for k, u in enumerate(parts)]
    return units


def build_units(
    files: Sequence[tuple[str, str]], shard_size: int, *, cache_dir: str | None = ""
) -> tuple[list[Unit], list[str]]:
    """``plan_units`` without the indexes; gzip copies go to ``gzip_cache.default_dir()``
    unless ``cache_dir`` names another folder (None: no copies, gzip reads parse from the top).
    """
    folder = gzip_cache.default_dir() if cache_dir == "" else cache_dir
    plan = plan_units(files, shard_size, cache_dir=folder)
    return plan.units, plan.warnings


def read_unit(unit: Unit) -> Iterator[fasta.Record]:
    """The unit's records, read from its seek point (the fast path tasks use)."""
    return fasta.iter_records(unit.path, unit.start, unit.count, unit.seek)


def split_unit(unit: Unit, k: int, index: RecordIndex | None) -> tuple[Unit, Unit]:
    """Cut ``unit`` before record ``k``: [start, k) and [k, end), each reading from a valid point.

    The head keeps the parent's seek point. The tail seeks to the indexed record
    nearest below ``k`` (or keeps the parent's, when that is nearer or there is
    no index). Residues are split by the index's cumulative counts (an estimate
    between index entries); the halves always add up to the parent's.
    """
    end = unit.start + unit.count
    if not unit.start < k < end:
        raise ValueError(f"{unit.uid}: cut at {k} outside ({unit.start}, {end})")
    seek = unit.seek
    head_residues = unit.residues * (k - unit.start) // unit.count
    if index is not None and index.path == unit.path and index.records >= end:
        near = index.seek_point(k)
        if seek is None or near.record > seek.record:
            seek = near
        est = index.residues_before(k) - index.residues_before(unit.start)
        head_residues = min(max(round(est), 0), unit.residues)
    head = replace(unit, uid=f"{unit.rel}[{unit.start}:{k}]", count=k - unit.start,
                   residues=head_residues, split_from=unit.uid)
    tail = replace(unit, uid=f"{unit.rel}[{k}:{end}]", start=k, count=end - k,
                   residues=unit.residues - head_residues, seek=seek, split_from=unit.uid)
    return head, tail


def summarize_inputs(inputs: Sequence[str]) -> str:
    """A short name for a run: ``inputs/``, ``a.fa``, or ``a.fa +3 more``."""
    if not inputs:
        return ""
    first = inputs[0]
    name = os.path.basename(os.path.normpath(os.path.abspath(first))) or first
    if os.path.isdir(first):
        name += "/"
    return name if len(inputs) == 1 else f"{name} +{len(inputs) - 1} more"
