"""Which parts of each input file are done, exactly once, and when a file is complete.

The runner feeds it every finished unit; it raises if a part would be done
twice and calls ``merge`` once per file, when the file's spans tile it (see
``inputs.ranges``). Per file it holds only what the file needs at that moment:
its record count until a first piece finishes, then its Coverage, then a
shared marker once merged, so a run over 50,000 files keeps almost nothing
per file it has finished.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from ..inputs.ranges import Coverage, OverlapError
from ..inputs.units import Unit, span_uid
from ..inputs.work import records_started
from .manifest import ManifestEntry

Piece = tuple[Unit, str]  # a finished unit and its result's path
Merge = Callable[[str, Sequence[Piece]], None]  # (file rel, its pieces in input order)
Pieces = Sequence[tuple[tuple[int, int], tuple[int, int], Piece]]  # (begin, stop, piece) in order


class _Merged(enum.Enum):
    MERGED = "merged"


MERGED = _Merged.MERGED  # a file whose every part is done and merged


class Completion:
    def __init__(self, wholes: Iterable[Unit], kept: Mapping[str, Coverage[ManifestEntry]], out: str,
                 merge: Merge) -> None:
        """``wholes``: one unit per input file; ``kept``: spans an earlier run finished
        (``Resume.kept``); ``out``: the run folder (kept results' paths are relative to it)."""
        self.merge = merge
        self.files: dict[str, Coverage[Piece] | int | _Merged] = {}
        self.kept_pieces = self.kept_records = 0
        for whole in wholes:
            done = kept.get(whole.rel)
            if done is None or done.empty:
                self.files[whole.rel] = whole.count
                continue
            cov: Coverage[Piece] = Coverage(whole.count)
            for begin, stop, entry in done.pieces():
                piece = replace(whole, uid=span_uid(whole.rel, begin, stop), shard=entry.shard, start=entry.start,
                                count=entry.count, part=entry.part, end_part=entry.end_part)
                cov.add(begin, stop, (piece, f"{out}/{entry.output}"))
                self.kept_pieces += 1
                self.kept_records += records_started(begin, stop)
            self.files[whole.rel] = cov

    def merge_complete(self) -> None:
        """Files an earlier run finished whole: make sure their per-file results exist."""
        for rel, cov in list(self.files.items()):
            if isinstance(cov, Coverage) and cov.complete:
                self._merge(rel, cov.pieces())

    def add(self, unit: Unit, output: str) -> None:
        """``unit`` finished with its result at ``output``; a part done twice raises."""
        cov = self.files[unit.rel]
        if cov is MERGED:
            raise OverlapError(f"{unit.uid}: its file was already complete")
        if isinstance(cov, int):
            if unit.begin == (0, 0) and unit.stop == (cov, 0):  # the whole file in one unit
                self._merge(unit.rel, [((0, 0), unit.stop, (unit, output))])
                return
            cov = self.files[unit.rel] = Coverage(cov)
        cov.add(unit.begin, unit.stop, (unit, output))
        if cov.complete:
            self._merge(unit.rel, cov.pieces())

    def _merge(self, rel: str, pieces: Pieces) -> None:
        self.files[rel] = MERGED
        self.merge(rel, [piece for _, _, piece in pieces])
