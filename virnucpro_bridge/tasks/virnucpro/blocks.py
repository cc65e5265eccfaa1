"""A unit's records as blocks of frames ready for the models (the host's half of the work).

    read_unit ─► check ─► chunks (from the unit's first part to its stop) ─► kept frames
        (or a no-frame row for a chunk that kept none)
        ─► Block of >= ``size`` frames (whole chunks) ─► prepare: tokens, batches, tensors

``blocks`` runs in the task's prefetch thread (or inline): it reads ahead of
the device, so it may pass a stop the engine set meanwhile (a cut in flight).
Each frame carries its (record, chunk) position and the consumer drops those
at or past the stop; a failure while reading (a bad record, a damaged gzip)
arrives as a block with ``error`` at the position where it happened, so the
consumer raises it only if the unit still reaches that far, as running
without read-ahead would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import UnitError
from ...inputs.units import Unit, read_unit
from ..base import Stop, part_range
from .chunking import chunk_record
from .prepare import BadSequence, Checker
from .results import no_frame_row
from .translation import Frame, identify_frames


@dataclass
class Block:
    """Whole chunks: each chunk's kept frames, or a no-frame row for a chunk that kept none
    (``items``, in input order), with where each came from; ``at`` is the position after them."""

    items: list[Frame | str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)  # the record id of each item
    positions: list[Stop] = field(default_factory=list)  # (record, chunk) of each item, relative to the unit
    at: Stop = (0, 0)
    error: BaseException | None = None  # reading failed at ``at``
    frames: list[Frame] = field(default_factory=list)  # the items that are frames: what the models see
    frame_records: list[str] = field(default_factory=list)  # the record id of each frame
    nucleotide: Any = None  # embeddings.Prepared, once prepared
    protein: Any = None

    def add(self, record: str, position: Stop, chunk_id: str, kept: list[Frame]) -> None:
        for item in kept if kept else (no_frame_row(chunk_id),):
            self._append(item, record, position)

    def _append(self, item: Frame | str, record: str, position: Stop) -> None:
        self.items.append(item)
        self.records.append(record)
        self.positions.append(position)
        if not isinstance(item, str):
            self.frames.append(item)
            self.frame_records.append(record)

    def before(self, stop: Stop) -> Block:
        """This block without the chunks at or past ``stop`` (unprepared when any were dropped)."""
        keep = sum(1 for p in self.positions if p < stop)
        if keep == len(self.items):
            return self
        cut = Block(at=min(self.at, stop), error=self.error)
        for item, record, position in zip(self.items[:keep], self.records, self.positions, strict=False):
            cut._append(item, record, position)
        return cut


def blocks(unit: Unit, parts: Callable[[int], int], chunk_length: int, stop: Callable[[], Stop],
           check: Checker, size: int) -> Iterator[Block]:
    """The unit's frames in blocks of at least ``size`` (the last may be smaller or empty);
    ``stop()`` is read before each record and chunk (it only ever moves earlier)."""
    block = Block(at=(0, unit.part))
    records = iter(read_unit(unit))
    r = -1
    while True:
        try:
            record = next(records, None)
            r += 1
            end = stop()
            if record is None or r > end[0] or (r == end[0] and not end[1]):
                break
            check(record.id, record.sequence)
            k = parts(len(record.sequence))
            first, last = part_range(unit, r, k)
            # One chunk at a time: a long record reports progress as it goes.
            for j, (chunk_id, chunk) in enumerate(chunk_record(record.id, record.sequence, chunk_length,
                                                               first, last), first):
                if (r, j) >= stop():
                    break
                block.add(record.id, (r, j), chunk_id, identify_frames(chunk_id, chunk))
                block.at = (r, j + 1) if j + 1 < k else (r + 1, 0)
                if len(block.frames) >= size:
                    yield block
                    block = Block(at=block.at)
            block.at = max(block.at, (r + 1, 0)) if (r + 1, 0) <= stop() else block.at
        except BadSequence as exc:
            block.error = UnitError(str(exc))
            break
        except Exception as exc:  # noqa: BLE001 - a read error: raised by the consumer if it gets this far
            block.error = exc
            break
    yield block
