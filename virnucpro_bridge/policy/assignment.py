"""Initial assignment: greedy LPT onto devices of different speeds.

Largest unit first, each onto the device where it would finish earliest.
Work stealing corrects what the estimates get wrong; a good opening leaves
it only the tail to fix. Pure: costs and speeds in, plan out.
"""

from __future__ import annotations

from collections.abc import Sequence


def assign(costs: Sequence[float], speeds: Sequence[float]) -> list[list[int]]:
    """Per device, the unit indices it gets, in assignment order (largest first).

    A unit goes where ``(load + cost) / speed`` is smallest; ties go to the
    lower device index, equal costs to the lower unit index. ``--no-weighted``
    is the caller passing every speed as 1.0.
    """
    if not speeds:
        raise ValueError("assign needs at least one device")
    if any(s <= 0 for s in speeds):
        raise ValueError(f"device speeds must be > 0, got {list(speeds)}")
    order = sorted(range(len(costs)), key=lambda i: -costs[i])  # stable: equal costs keep index order
    loads = [0.0] * len(speeds)
    plan: list[list[int]] = [[] for _ in speeds]
    for i in order:
        cost = costs[i]
        best = min(range(len(speeds)), key=lambda d: ((loads[d] + cost) / speeds[d], d))
        loads[best] += cost
        plan[best].append(i)
    return plan


def finish_times(costs: Sequence[float], speeds: Sequence[float], plan: Sequence[Sequence[int]]) -> list[float]:
    """Each device's estimated finish time under ``plan`` (for logs and tests)."""
    return [sum(costs[i] for i in units) / speeds[d] for d, units in enumerate(plan)]


__all__ = ["assign", "finish_times"]
