"""The prepare stage: records -> chunks -> kept frames, and the three files.

``lbtui prepare`` writes what upstream VirNucPro writes before any model runs,
for the same input, record for record::

    <stem>_chunked<L>.fa              chunks (60 bases a line, as Biopython writes)
    <stem>_identified_nucleotide.fa   kept frames' nucleotides (one line each)
    <stem>_identified_protein.faa     kept frames' proteins (one line each)

The task runs the same code per unit, in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from ...inputs.fasta import NUCLEOTIDE
from ...runfiles.atomic import atomic_open
from .chunking import chunk_record
from .translation import Frame, identify_frames

NUCLEOTIDE_LETTERS = NUCLEOTIDE.letters  # the scan's check, record by record
_NOT_NUCLEOTIDE = re.compile(f"[^{re.escape(NUCLEOTIDE_LETTERS)}]", re.IGNORECASE)
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".faa", ".ffn")
WRAP = 60  # Biopython's FASTA line width for the chunk file


class BadSequence(ValueError):
    """A record that cannot be processed (not nucleotides, duplicate id)."""


class Chunk(NamedTuple):
    id: str
    sequence: str  # case kept
    frames: list[Frame]


@dataclass
class Counts:
    records: int = 0
    empty: int = 0  # records without sequence: upstream crashes on them; we skip them
    chunks: int = 0
    frames: int = 0


@dataclass
class Checker:
    """Checks records one by one: nucleotide letters only, ids unique in the file."""

    name: str
    seen: set[str] = field(default_factory=set)

    def __call__(self, record_id: str, sequence: str) -> None:
        bad = _NOT_NUCLEOTIDE.search(sequence)
        if bad:
            raise BadSequence(
                f"{self.name}: record {record_id!r} is not a nucleotide sequence "
                f"(character {bad.group()!r} at position {bad.start() + 1})"
            )
        if record_id in self.seen:
            raise BadSequence(f"{self.name}: duplicate sequence id {record_id!r}")
        self.seen.add(record_id)


def prepare_record(record_id: str, sequence: str, length: int) -> list[Chunk]:
    """Chunks of one record with the frames kept from each."""
    return [Chunk(cid, chunk, identify_frames(cid, chunk))
            for cid, chunk in chunk_record(record_id, sequence, length)]


def stem(path: str | Path) -> str:
    """File name without ``.gz`` and its FASTA suffix: ``reads.fa.gz`` -> ``reads``."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    for suffix in FASTA_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def output_names(path: str | Path, length: int) -> tuple[str, str, str]:
    s = stem(path)
    return (f"{s}_chunked{length}.fa", f"{s}_identified_nucleotide.fa",
            f"{s}_identified_protein.faa")


def _write_wrapped(fh: IO[str], record_id: str, sequence: str) -> None:
    fh.write(f">{record_id}\n")
    for i in range(0, len(sequence), WRAP):
        fh.write(sequence[i:i + WRAP] + "\n")


def prepare_file(records: Iterable[tuple[str, str]], name: str, length: int,
                 out_dir: str | Path, input_path: str | Path | None = None) -> tuple[list[Path], Counts]:
    """Stream ``(id, sequence)`` records into the three upstream files under ``out_dir``.

    ``name`` names the input in error messages; ``input_path`` (default ``name``)
    gives the output file names. All three files are written atomically.
    """
    out = Path(out_dir)
    paths = [out / n for n in output_names(input_path or name, length)]
    check = Checker(name)
    counts = Counts()
    with atomic_open(paths[0]) as chunked, atomic_open(paths[1]) as nuc, atomic_open(paths[2]) as prot:
        for record_id, sequence in records:
            check(record_id, sequence)
            counts.records += 1
            if not sequence:
                counts.empty += 1
                continue
            for chunk in prepare_record(record_id, sequence, length):
                counts.chunks += 1
                _write_wrapped(chunked, chunk.id, chunk.sequence)
                for frame in chunk.frames:
                    counts.frames += 1
                    nuc.write(f">{frame.id}\n{frame.nucleotide}\n")
                    prot.write(f">{frame.id}\n{frame.protein}\n")
    return paths, counts


def iter_frames(records: Iterable[tuple[str, str]], length: int) -> Iterator[Frame]:
    """Every kept frame of every record, in upstream's order."""
    for record_id, sequence in records:
        for chunk in prepare_record(record_id, sequence, length):
            yield from chunk.frames
