"""Units of work: input discovery, sharding and cost estimates.

A unit is one input file, or one shard of a file holding more than
``--shard-size`` sequences. Its cost estimate is sequences × mean length
(= total residues) from a streaming scan; nothing else about the file is
known to the scheduler.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from . import fasta
from .errors import InputError, UsageError


@dataclass(frozen=True)
class Unit:
    uid: str  # "rel/path.fa", or "rel/path.fa#2" (0-based shard) when the file has several shards
    path: str  # absolute path of the input file
    rel: str  # path relative to the inputs' common root; names outputs
    shard: int  # 0-based
    shards: int  # shards of this file in total
    start: int  # index of this unit's first record in the file
    count: int  # records (sequences) in this unit
    residues: int  # sum of sequence lengths in this unit
    sha256: str  # content hash of the whole input file (resume key)

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


def build_units(files: Sequence[tuple[str, str]], shard_size: int) -> tuple[list[Unit], list[str]]:
    """Scan each file and cut it into units (one per shard); warn about empty files."""
    if shard_size < 1:
        raise UsageError(f"--shard-size {shard_size}: must be at least 1")
    units: list[Unit] = []
    warnings: list[str] = []
    for path, rel in files:
        stat = fasta.scan(path, shard_size)
        if not stat.sequences:
            warnings.append(f"{rel}: empty FASTA file, skipped")
            continue
        n = len(stat.shards)
        for i, shard in enumerate(stat.shards):
            uid = rel if n == 1 else f"{rel}#{i}"
            units.append(
                Unit(uid, path, rel, i, n, shard.start, shard.count, shard.residues, stat.sha256)
            )
    return units, warnings


def summarize_inputs(inputs: Sequence[str]) -> str:
    """A short name for a run: ``inputs/``, ``a.fa``, or ``a.fa +3 more``."""
    if not inputs:
        return ""
    first = inputs[0]
    name = os.path.basename(os.path.normpath(os.path.abspath(first))) or first
    if os.path.isdir(first):
        name += "/"
    return name if len(inputs) == 1 else f"{name} +{len(inputs) - 1} more"
