"""One manifest.jsonl line, as one dataclass: the runner writes it (``Journal.unit_done``),
resume, the report, ``lbtui attach`` and ``lbtui verify`` read it back (``reader.manifest_entries``).

A line is a JSON object of exactly these fields. Read back, a line whose known fields
have the wrong JSON type is refused whole (it was not written by lbtui); unknown fields
are ignored and missing ones take the defaults below, which no resume can mistake for a
result (a row without ``output_sha256`` and ``output_size`` is never vouched for).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..inputs.units import Unit

MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class ManifestEntry:
    """A finished unit, by its span of the file."""

    file: str
    shard: int = 0
    device_index: int = -1
    device: str = ""
    sequences: int = 0
    seconds: float = 0.0
    stolen: bool = False
    attempt: int = 1
    output: str = ""  # the result file, relative to --out
    sha256: str = ""  # the input file's
    start: int = 0
    count: int = 0
    task: str = ""
    fingerprint: str = ""  # Task.fingerprint(): options and models that shape outputs
    run_id: str = ""  # the session that made it (run.json's run_id)
    started: float = 0.0  # epoch seconds, worker clock
    ended: float = 0.0
    split_from: str = ""  # uid of the unit it was cut from in flight ("" when planned as is)
    node: str = ""  # Ray node id of the actor that ran it ("" on the local backend)
    # Parts (e.g. VirNucPro chunks) of its first record it skips, and of its last record
    # it covers (0: all): a piece of one long record.
    part: int = 0
    end_part: int = 0
    # The result file's own sha256 and size, as the worker that wrote it measured them: a
    # resume or ``lbtui verify`` trusts the file only while its bytes match (vouch.py).
    output_sha256: str = ""
    output_size: int = -1

    @property
    def begin(self) -> tuple[int, int]:
        return (self.start, self.part)

    @property
    def stop(self) -> tuple[int, int]:
        end = self.start + self.count
        return (end - 1, self.end_part) if self.end_part else (end, 0)

    def covers(self, whole: Unit) -> bool:
        """True when this entry is a span of ``whole``'s file as it is now (same content)."""
        return (
            self.file == whole.rel
            and self.sha256 == whole.sha256
            and self.count >= 1
            and self.start >= 0
            and self.part >= 0 and self.end_part >= 0
            and self.begin < self.stop <= (whole.count, 0)
        )

    def line(self) -> str:
        """The manifest line (no newline)."""
        return json.dumps(vars(self), separators=(", ", ": "))

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> ManifestEntry | None:
        """The entry a parsed line holds; None when it has no ``file`` or a field of the wrong type."""
        found = {k: v for k, v in raw.items() if k in _TYPES and v is not None}
        if "file" not in found or not all(_fits(v, _TYPES[k]) for k, v in found.items()):
            return None
        return cls(**found)


# Each field's JSON type, from the annotations above (all are plain str, int, float, bool).
_TYPES: dict[str, type] = {f.name: {"str": str, "int": int, "float": float, "bool": bool}[str(f.type)]
                           for f in fields(ManifestEntry)}


def _fits(value: object, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
