"""Plan-time splitting: how many records each piece of each file gets.

Pure: record counts and costs in, piece sizes out. The rule is *factoring*
(Hummel, Schonberg & Flynn, 1992): work is handed out in batches of P pieces
(P = devices), each piece of a batch costing ``remaining / (FACTOR · P)``, so
half of what is left goes out per batch and pieces shrink geometrically
toward the end of the plan. Files are taken largest first (the order LPT
assigns them in), so every device's queue ends with its smallest pieces and
the run's tail is short whatever the estimates got wrong.

Why factoring and not guided self-scheduling (GSS: each piece
``remaining / P``): GSS's first P pieces take 1 − (1 − 1/P)^P ≈ 63 % of the
work in pieces as big as a whole device share, which LPT cannot balance on
devices of different speeds; factoring's first batch takes half, in pieces of
half a share. Measured with ``benchmarks/bench_split.py``, factoring gave the
lower makespan ratio on the uneven scenarios (see README "How files are split").

``--shard-size`` caps every piece; ``min_records`` (``MIN_PIECE_RECORDS``)
floors it, so a small file is never cut into pieces whose fixed costs matter.
"""

from __future__ import annotations

import math
from typing import Sequence

FACTOR = 2.0  # factoring's x: each batch hands out 1/x of the work left (the classic choice)
# Smallest piece, in records: a unit pays a fixed ~10-50 ms (hand-off, result file,
# manifest line, one part-filled model batch); 1,000 contigs take seconds on any GPU,
# so that stays under ~1 % of a piece's time.
MIN_PIECE_RECORDS = 1_000


def fixed_pieces(records: int, shard_size: int) -> list[int]:
    """``--no-split``: pieces of exactly ``shard_size`` records, the last one shorter."""
    full, rest = divmod(records, shard_size)
    return [shard_size] * full + ([rest] if rest else [])


def factoring_pieces(
    records: Sequence[int],
    costs: Sequence[float],
    devices: int,
    *,
    shard_size: int,
    min_records: int = MIN_PIECE_RECORDS,
) -> list[list[int]]:
    """Per file (same order as given), the record counts of its pieces, in file order.

    Each piece is at most ``shard_size`` records; no piece is cut below
    ``min_records`` unless the file (or what is left of it) is that small.
    """
    if len(records) != len(costs):
        raise ValueError("records and costs differ in length")
    if devices < 1 or shard_size < 1 or min_records < 1:
        raise ValueError("devices, shard_size and min_records must be >= 1")
    remaining = float(sum(max(0.0, c) for c in costs))
    pieces: list[list[int]] = [[] for _ in records]
    batch_left, chunk = 0, 0.0
    for f in sorted(range(len(records)), key=lambda i: (-costs[i], i)):
        n = records[f]
        per_record = costs[f] / n if n else 0.0
        left = n
        while left > 0:
            if batch_left == 0:
                chunk, batch_left = remaining / (FACTOR * devices), devices
            want = math.ceil(chunk / per_record) if per_record > 0 else left
            take = min(left, shard_size, max(want, min_records))
            if 0 < left - take < min_records and left <= shard_size:
                take = left  # never leave a crumb behind when the whole rest fits one piece
            pieces[f].append(take)
            left -= take
            remaining -= take * per_record
            batch_left -= 1
    return pieces
