"""Upstream VirNucPro's chunking: cut a record into overlapping windows of length L.

For a record of length n, k = ceil(n / L) windows are spread over it by
shifting every window after the first back a little, so that together they
cover the record with the overlap r = k*L - n shared out as evenly as upstream
does it (its integer arithmetic, including its quirk that the last window can
come out shorter than L). Ids are ``{record_id}_chunk_{j}`` (1-based).
"""

from __future__ import annotations

from collections.abc import Iterator


def chunk_starts(n: int, length: int) -> list[int]:
    """Start offsets of the windows upstream cuts from a record of length ``n``.

    An empty record gives no windows (upstream divides by zero on it).
    """
    if length < 1:
        raise ValueError(f"chunk length must be >= 1, got {length}")
    if n <= 0:
        return []
    k = -(-n // length)
    overlap = k * length - n
    base = int(overlap / k)
    extra = overlap - base * (k - 1)
    shifts = [base + 1] * extra + [base] * max(0, k - 1 - extra) + [0]
    starts: list[int] = []
    moved = 0
    for j in range(k):  # upstream zips the k nominal starts with ``shifts``
        starts.append(j * length - moved)
        moved += shifts[j]
    return starts


def chunk_count(n: int, length: int) -> int:
    """How many windows a record of length ``n`` gives (``len(chunk_starts(n, length))``)."""
    return -(-n // length) if n > 0 else 0


def chunk_record(record_id: str, sequence: str, length: int, first: int = 0,
                 last: int | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(chunk_id, chunk_sequence)`` for windows ``first .. last - 1`` (0-based;
    all by default); case is kept, the description dropped. Ids and windows are those
    of the whole record, so any range of them is what the whole record would give."""
    starts = chunk_starts(len(sequence), length)
    for j in range(first, len(starts) if last is None else min(last, len(starts))):
        yield f"{record_id}_chunk_{j + 1}", sequence[starts[j]:starts[j] + length]
