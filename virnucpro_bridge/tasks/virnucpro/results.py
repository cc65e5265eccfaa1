"""Result files in upstream VirNucPro's exact layout, one call per sequence, and merging unit shards.

Per unit (``units/<rel>[.shardNNNN].tsv``) and per file (``prediction_results.txt``)::

    Sequence_ID<TAB>Prediction<TAB>score1<TAB>score2
    seq_chunk_1R1<TAB>virus<TAB>0.12100612<TAB>0.8789939

Scores print as upstream prints numpy float32 values (``str(np.float32)``). Rows
keep input order. A unit file also has a row ``<chunk id><TAB><TAB><TAB>`` for
each chunk that kept no frame (nothing to classify); merging leaves those out of
upstream's files and counts them. Merging also writes upstream's
``prediction_results_highestscore.csv`` (``HIGHEST_NAME``) and lbtui's
``prediction_per_sequence.tsv`` (:func:`sequence_row`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...runfiles.atomic import atomic_open

HEADER = "Sequence_ID\tPrediction\tscore1\tscore2\n"
HIGHEST_HEADER = "Modified_ID\tIs_Virus\n"
RESULTS_NAME = "prediction_results.txt"
# upstream's, tab-separated despite its name: a row per chunk, Modified_ID (Sequence_ID less its
# last two characters, the frame), Is_Virus = max(score2) >= max(score1), sorted as pandas' groupby
HIGHEST_NAME = "prediction_results_highestscore.csv"
PER_SEQUENCE_NAME = "prediction_per_sequence.tsv"
PER_SEQUENCE_HEADER = "Sequence_ID\tChunks\tChunks_with_frames\tVirus_chunks\tMax_score2\tIs_Virus\n"
CHUNK_MARK = "_chunk_"  # chunk ids are <record id>_chunk_<n>


@dataclass(frozen=True)
class Counts:
    """Input sequences of one file: those classified, and those with no stop-free frame in any chunk."""

    classified: int = 0
    without_frames: int = 0


def format_score(value: float) -> str:
    """``0.12100612``: how upstream's ``str()`` prints a numpy float32."""
    return str(np.float32(value))


def format_rows(ids: Sequence[str], probabilities: np.ndarray) -> Iterator[str]:
    """One line per frame; ``probabilities`` is (n, 2) float32 [others, virus]."""
    probs = np.asarray(probabilities, dtype=np.float32)
    for seq_id, (others, virus) in zip(ids, probs, strict=True):
        label = "virus" if virus > others else "others"
        yield f"{seq_id}\t{label}\t{format_score(others)}\t{format_score(virus)}\n"


def no_frame_row(chunk_id: str) -> str:
    """A unit file's row for a chunk that kept no frame."""
    return f"{chunk_id}\t\t\t\n"


def write_unit(path: str | Path, lines: Iterable[str]) -> None:
    with atomic_open(path) as fh:
        fh.write(HEADER)
        fh.writelines(lines)


def read_rows(path: str | Path) -> Iterator[str]:
    """Data lines of a unit or results file (header checked, then skipped)."""
    with open(path, encoding="utf-8", newline="") as fh:
        header = fh.readline()
        if header != HEADER:
            raise ValueError(f"{path}: not a VirNucPro result file (header {header!r})")
        yield from fh


def _update(best: dict[str, tuple[float, float]], line: str) -> str:
    """Fold one data line into ``best`` (Modified_ID -> max score1, max score2); return its id."""
    seq_id, _label, s1, s2 = line.rstrip("\n").split("\t")
    a, b = float(s1), float(s2)
    old = best.get(seq_id[:-2])
    best[seq_id[:-2]] = (a, b) if old is None else (max(old[0], a), max(old[1], b))
    return seq_id


Chunks = dict[str, list[str]]  # record id -> its chunk ids with rows in the unit files, in input order


class Merged:
    """One input's unit files, read in order, as its per-file results: the lines of
    ``prediction_results.txt`` (``results``), then of the highest-score and per-sequence
    files. ``label`` names the input in errors. A sequence id met twice (possible only
    across shards: a unit rejects its own duplicates) is an error."""

    def __init__(self, unit_files: Sequence[str | Path], label: str) -> None:
        self.unit_files, self.label = unit_files, label
        self.best: dict[str, tuple[float, float]] = {}  # Modified_ID (a chunk's id) -> max scores
        self.chunks: Chunks = {}

    def results(self) -> Iterator[str]:
        yield HEADER
        seen: set[str] = set()
        chunks = self.chunks
        for unit_file in self.unit_files:
            for line in read_rows(unit_file):
                if line.endswith("\t\t\t\n"):  # a chunk without frames
                    chunk = line[:-4]
                    chunks.setdefault(chunk.rsplit(CHUNK_MARK, 1)[0], []).append(chunk)
                    continue
                seq_id = _update(self.best, line)
                if seq_id in seen:
                    record = seq_id[:-2].rsplit(CHUNK_MARK, 1)[0]
                    raise ValueError(f"{self.label}: duplicate sequence id {record!r} (in different shards)")
                seen.add(seq_id)
                own = chunks.setdefault(seq_id[:-2].rsplit(CHUNK_MARK, 1)[0], [])
                if not own or own[-1] != seq_id[:-2]:
                    own.append(seq_id[:-2])
                yield line

    def highest(self) -> Iterator[str]:
        """After ``results``: one line per chunk with frames, sorted by Modified_ID."""
        yield HIGHEST_HEADER
        for key in sorted(self.best):
            s1, s2 = self.best[key]
            yield f"{key}\t{s2 >= s1}\n"

    def per_sequence(self) -> Iterator[str]:
        """After ``results``: one line per input sequence, in input order."""
        yield PER_SEQUENCE_HEADER
        for record, ids in self.chunks.items():
            yield sequence_row(record, ids, self.best)

    def counts(self) -> Counts:
        without = sum(1 for ids in self.chunks.values() if not any(c in self.best for c in ids))
        return Counts(classified=len(self.chunks) - without, without_frames=without)


def merge(unit_files: Sequence[str | Path], out_dir: str | Path, label: str,
          check: Callable[[Chunks], None] | None = None) -> tuple[list[Path], Counts]:
    """Concatenate unit files (in shard order) into the per-file results. ``check`` is
    handed each sequence's chunks before anything is committed: raising there leaves
    the per-file results as they were."""
    out = Path(out_dir)
    results, highest, per_sequence = out / RESULTS_NAME, out / HIGHEST_NAME, out / PER_SEQUENCE_NAME
    merged = Merged(unit_files, label)
    with atomic_open(results) as fh:
        fh.writelines(merged.results())
        if check is not None:
            check(merged.chunks)
    with atomic_open(highest) as fh:
        fh.writelines(merged.highest())
    with atomic_open(per_sequence) as fh:
        fh.writelines(merged.per_sequence())
    return [results, highest, per_sequence], merged.counts()


def sequence_row(record: str, chunk_ids: Sequence[str], best: dict[str, tuple[float, float]]) -> str:
    """One line of prediction_per_sequence.tsv (lbtui's own, in input order)::

        Sequence_ID  Chunks  Chunks_with_frames  Virus_chunks  Max_score2  Is_Virus

    ``Is_Virus``: True when at least half of the chunks with frames are virus chunks
    (so a one-chunk sequence gets its chunk's call), NA when no chunk kept a frame."""
    scored = [best[c] for c in chunk_ids if c in best]
    if not scored:
        return f"{record}\t{len(chunk_ids)}\t0\t0\tNA\tNA\n"
    virus = sum(1 for s1, s2 in scored if s2 >= s1)
    top = format_score(max(s2 for _, s2 in scored))
    return f"{record}\t{len(chunk_ids)}\t{len(scored)}\t{virus}\t{top}\t{2 * virus >= len(scored)}\n"
