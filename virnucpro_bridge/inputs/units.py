"""Units of work: input discovery, what a unit covers, and cutting one in two.

A unit is a span ``[begin, stop)`` of one input file in positions
``(record, part)`` (see ``work``): a whole file, a range of its records, or
part of one long record (VirNucPro: a range of its chunks). It touches the
records ``[start, start + count)``; the first may begin at part ``part`` and
the last may end before part ``end_part``. Its cost estimate is its residues,
from a streaming scan; nothing else about the file is known to the scheduler.

Each unit also carries a ``SeekPoint`` (where its first record, or one
shortly before it, starts in the file), so ``read_unit`` costs the unit's
size, not its position. ``inputs.plan`` keeps each file's ``RecordIndex`` in
the main process (when it knows more than the unit does) so ``cut_unit`` can
cut a running unit at any record or part.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from ..errors import InputError
from . import fasta
from .record_index import RecordIndex, SeekPoint
from .work import Parts, Position, Work, records_started, span_text


# slots: a run can hold hundreds of thousands of units; no __dict__ each.
@dataclass(frozen=True, slots=True)
class Unit:
    # "rel/path.fa"; "rel/path.fa#2" (0-based piece) when the plan cut the file;
    # "rel/path.fa[25000:50000]" or "rel/path.fa[5p120:6]" for a piece cut in flight
    uid: str
    path: str  # absolute path of the input file
    rel: str  # path relative to the inputs' common root; names outputs
    shard: int  # 0-based piece of this file in this run's plan (a piece cut in flight keeps its parent's)
    shards: int  # pieces of this file in this run's plan
    start: int  # index of the first record this unit touches
    count: int  # records it touches (the first and last may be partial: part, end_part)
    residues: int  # estimated residues it covers
    sha256: str  # content hash of the whole input file (resume key)
    # Where reading may start: a record at or before ``start``; None = parse from the top.
    seek: SeekPoint | None = field(default=None, compare=False)
    split_from: str = ""  # uid of the unit this one was cut from in flight ("" for a planned unit)
    part: int = 0  # first part of record ``start`` it covers (0: from the record's start)
    end_part: int = 0  # parts of its last record it covers, from that record's start; 0: all

    # Pickled per WorkItem: a plain tuple, not the slots protocol's field walk.
    def __reduce__(self) -> tuple[type[Unit], tuple[object, ...]]:
        return (Unit, (self.uid, self.path, self.rel, self.shard, self.shards, self.start, self.count,
                       self.residues, self.sha256, self.seek, self.split_from, self.part, self.end_part))

    @property
    def end(self) -> int:
        """One past the last record it touches."""
        return self.start + self.count

    @property
    def begin(self) -> Position:
        return Position(self.start, self.part)

    @property
    def stop(self) -> Position:
        """The position it ends before."""
        return Position(self.end - 1, self.end_part) if self.end_part else Position(self.end, 0)

    @property
    def whole(self) -> bool:
        """The unit is its whole file (planned uncut): its result needs no range in its name."""
        return self.uid == self.rel

    @property
    def sequences(self) -> int:
        """Records whose first part it covers: a record cut into pieces counts once."""
        return records_started(self.begin, self.stop) if self.part or self.end_part else self.count

    @property
    def span(self) -> str:
        """``1,200–2,000`` or ``5p120–6``: what the unit covers, for people."""
        return span_text(self.begin, self.stop)

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

    found: list[str] = []
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
    _refuse_odd_files(found)
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


ODD_NAMED = 5  # a refusal names this many odd inputs, then counts the rest


def _refuse_odd_files(paths: Sequence[str]) -> None:
    """InputError naming every input that is not a regular file (a FIFO, a socket, a device,
    also behind a symbolic link, or a link to nothing): such a file is never opened."""
    odd = []
    for p in paths:
        try:
            mode = os.stat(p).st_mode
        except OSError as exc:
            odd.append(f"{p} ({'a broken symbolic link' if os.path.islink(p) else exc.strerror})")
            continue
        if not stat.S_ISREG(mode):
            link = f", through a symbolic link to {os.path.realpath(p)}" if os.path.islink(p) else ""
            odd.append(f"{p} ({fasta.file_kind(mode)}{link})")
    if odd:
        more = f" and {len(odd) - ODD_NAMED} more" if len(odd) > ODD_NAMED else ""
        raise InputError(f"not regular files, so not read: {', '.join(odd[:ODD_NAMED])}{more}; "
                         "only regular files are inputs")


def read_unit(unit: Unit) -> Iterator[fasta.Record]:
    """The unit's records, read from its seek point (the fast path tasks use)."""
    return fasta.iter_records(unit.path, unit.start, unit.count, unit.seek)


def work_of(unit: Unit, index: RecordIndex | None, parts: Parts | None = None) -> Work:
    """Prices positions of ``unit``'s file: by its index when it has one that covers
    the unit, else spreading the unit's residues evenly over its records."""
    if index is not None and index.path == unit.path and index.records >= unit.end:
        return Work(index, parts)
    return Work(None, parts, first=unit.start, records_hint=unit.count, residues_hint=unit.residues)


def span_uid(rel: str, begin: tuple[int, int], stop: tuple[int, int]) -> str:
    """``rel[25000:50000]``, ``rel[5p120:6]``: the uid of a piece cut in flight."""
    return f"{rel}[{span_text(begin, stop, ':').replace(',', '')}]"


def cut_unit(unit: Unit, at: tuple[int, int], index: RecordIndex | None,
             parts: Parts | None = None) -> tuple[Unit, Unit]:
    """Cut ``unit`` at position ``at``: [begin, at) and [at, stop), each reading from a valid point.

    The head keeps the parent's seek point. The tail seeks to the indexed record
    nearest below ``at``'s record (or keeps the parent's, when that is nearer or
    there is no index). Residues are split by the index's estimate; the halves
    always add up to the parent's.
    """
    at = Position(*at)
    if not unit.begin < at < unit.stop:
        raise ValueError(f"{unit.uid}: cut at {tuple(at)} outside ({tuple(unit.begin)}, {tuple(unit.stop)})")
    seek = unit.seek
    work = work_of(unit, index, parts)
    if work.index is not None:
        near = work.index.seek_point(at.record)
        if seek is None or near.record > seek.record:
            seek = near
    head_residues = min(max(round(work.cost(unit.begin, at)), 0), unit.residues)
    head_count = at.record - unit.start + (1 if at.part else 0)
    head = replace(unit, uid=span_uid(unit.rel, unit.begin, at), count=head_count, end_part=at.part,
                   residues=head_residues, split_from=unit.uid)
    tail = replace(unit, uid=span_uid(unit.rel, at, unit.stop), start=at.record, part=at.part,
                   count=unit.end - at.record, residues=unit.residues - head_residues, seek=seek,
                   split_from=unit.uid)
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
