"""Plan-time splitting: how much work each piece of each file gets.

Pure: costs in, piece costs out; ``inputs.plan`` turns them into record (and
part) boundaries. Work is estimated in residues, the unit a device's time
follows; a record count says little when records run from 60 bases to whole
genomes.

The rule is *factoring* (Hummel, Schonberg & Flynn, 1992): pieces go out in
batches of P (P = devices), each costing ``remaining / (FACTOR · P)``, so half
of what is left goes per batch and pieces shrink geometrically. Files are
taken largest first (the order LPT assigns them in), so every device's queue
ends with its smallest pieces and the tail is short whatever the estimates
got wrong (why not guided self-scheduling: docs/scheduling.md). Every piece
is at most ``cap`` (``--shard-size``) and at least ``floor`` (``--split-min``,
see ``floor_seconds``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict

from .sizes import AUTO, RECORDS, SECONDS, Size

FACTOR = 2.0  # factoring's x: each batch hands out 1/x of the work left (the classic choice)
# A piece must take this many times its fixed cost: the fixed cost stays under ~1 % of its time.
FIXED_COST_SHARE = 100.0
# Without a floor, factoring's pieces would halve forever: none is cut smaller than this
# share of a first-batch piece (ten halvings: a tail far finer than any device notices).
SMALLEST_SHARE = 1 / 1024


# A cut in flight happens only when a device has run dry and nothing is left to steal:
# the thief would otherwise sit idle until the end, so a share of the running unit is
# worth its fixed cost long before the plan's 1 % rule would allow it. A cut share
# must still take this many times its fixed cost (under 10 %), and the cut must pay
# (stealing.cut_pays, latency included).
CUT_FIXED_COST_SHARE = 10.0


def floor_seconds(fixed_cost_s: float) -> float:
    """The shortest a planned piece may take, given what one unit costs beyond its records."""
    return FIXED_COST_SHARE * max(0.0, fixed_cost_s)


def cut_floor_seconds(fixed_cost_s: float) -> float:
    """The shortest share a cut in flight may leave either side (``--split-min auto``)."""
    return CUT_FIXED_COST_SHARE * max(0.0, fixed_cost_s)



def factoring_costs(
    costs: Sequence[float],
    devices: int,
    *,
    cap: float = math.inf,
    floor: float = 0.0,
) -> list[list[float]]:
    """Per segment (same order as given), the costs of its pieces in file order.

    They add up to the segment's cost. No piece is above ``cap``; none is below
    ``floor`` unless the segment itself is smaller. A rest under ``floor`` is
    never left behind when it fits the last piece under ``cap``.
    """
    if devices < 1:
        raise ValueError("devices must be >= 1")
    if not cap > 0 or floor < 0:
        raise ValueError("cap must be > 0 and floor >= 0")
    remaining = float(sum(max(0.0, c) for c in costs))
    floor = min(max(floor, remaining / (FACTOR * devices) * SMALLEST_SHARE), cap)
    pieces: list[list[float]] = [[] for _ in costs]
    batch_left, chunk = 0, 0.0
    for f in sorted(range(len(costs)), key=lambda i: -costs[i]):  # stable: ties keep file order
        left = max(0.0, float(costs[f]))
        if left <= 0:
            pieces[f].append(0.0)
            continue
        while left > 0:
            if batch_left == 0:
                chunk, batch_left = remaining / (FACTOR * devices), devices
            take = min(left, cap, max(chunk, floor))
            if 0 < left - take < floor and left <= cap:
                take = left  # never leave a crumb behind when the whole rest fits one piece
            if left - take < 1e-9 * max(1.0, left):
                take = left  # float dust is not a piece
            pieces[f].append(take)
            left -= take
            remaining -= take
            batch_left -= 1
    return pieces


DEFAULT_SHARD_RECORDS = 10_000  # --shard-size default: upstream VirNucPro's files of 10,000 sequences


class PlanBounds(TypedDict):
    """``plan_units``' size keyword arguments, as ``plan_bounds`` gives them."""

    shard_size: int
    cap: float
    floor: float
    floor_records: int


def plan_bounds(shard: Size, split_min: Size, rate: float, fixed_cost_s: float) -> PlanBounds:
    """``plan_units``' size arguments from ``--shard-size`` and ``--split-min``.

    Seconds become residues at ``rate`` (residues/s of an average device of the
    run, from the task's prior: nothing is measured yet at plan time); ``auto``
    is ``floor_seconds(fixed_cost_s)`` of it. A record count stays a count.
    """
    def residues(size: Size) -> float:
        return size.amount * rate if size.unit == SECONDS else size.amount

    no_record_cap = 1 << 62  # a cap in work: records alone never cut a piece
    bounds: PlanBounds = {"shard_size": no_record_cap, "cap": math.inf, "floor": 0.0, "floor_records": 0}
    if shard.unit == RECORDS:
        bounds["shard_size"] = int(shard.amount)
    else:
        bounds["cap"] = residues(shard)
    if split_min.unit == RECORDS:
        bounds["floor_records"] = int(split_min.amount)
    elif split_min.unit == AUTO:
        bounds["floor"] = floor_seconds(fixed_cost_s) * rate
    else:
        bounds["floor"] = residues(split_min)
    return bounds
