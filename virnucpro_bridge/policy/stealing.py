"""The stealing rule: which victims an idle device may take a unit from.

Pure policy over plain numbers, after dask's ``stealing.py``: the coordinator
copies each queue's state into a :class:`VictimView`, asks
:func:`steal_candidates`, and tries the victims in order, taking the **tail**
unit of the first queue whose lock it gets without blocking.

A steal is allowed only when the thief would finish the tail unit before the
victim would even start it. Then every steal shortens the run's expected
makespan and a unit can never bounce back and forth (no thrashing).

Speeds come from :func:`estimate_rate`: the capability prior, replaced by the
measured rate as evidence accumulates. Only counts, lengths and measured
times go in; never anything a task knows privately about a unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# How much the capability prior counts, in seconds of observed busy time:
# enough that the first few short (or oddly slow) units cannot swing the
# estimate, small against the minutes of measurements a real run collects.
PRIOR_WEIGHT_S = 10.0
# Residues per second of a weight-1 device before any unit has finished (a task's
# default speed prior, ``Task.nominal_rate``): a mid-range GPU on short reads.
NOMINAL_RATE = 50_000.0


@dataclass(frozen=True)
class VictimView:
    index: int  # device index
    rate: float  # estimated cost units per second; <= 0: stopped, will not start its queue
    current_remaining: float  # est. cost left on the unit in flight (0 when idle)
    queued_cost: float  # sum of queued units' costs
    queue_len: int
    tail_cost: float  # cost of the last queued unit (0 if empty)


def _seconds(cost: float, rate: float) -> float:
    if cost <= 0:
        return 0.0
    return cost / rate if rate > 0 else math.inf


def remaining_time(v: VictimView) -> float:
    """Seconds until the victim runs out of work: (in flight + queued) / rate."""
    return _seconds(v.current_remaining + v.queued_cost, v.rate)


def worth_stealing(thief_rate: float, v: VictimView) -> bool:
    """Would an idle thief finish ``v``'s tail unit before ``v`` starts it?"""
    if v.queue_len <= 0 or thief_rate <= 0:
        return False
    if v.rate <= 0:
        return True  # a stopped victim (paused, stalled, still loading) starts nothing
    victim_starts_tail = v.current_remaining + v.queued_cost - v.tail_cost
    if victim_starts_tail <= 0:
        return False  # the victim starts it right now
    return _seconds(v.tail_cost, thief_rate) < _seconds(victim_starts_tail, v.rate)


def steal_candidates(thief: int, thief_rate: float, victims: Iterable[VictimView]) -> list[int]:
    """Victims worth stealing from, most remaining time first (ties: lower index)."""
    worth = [v for v in victims if v.index != thief and worth_stealing(thief_rate, v)]
    worth.sort(key=lambda v: (-remaining_time(v), v.index))
    return [v.index for v in worth]


def estimate_rate(prior_rate: float, cost_done: float, busy_s: float) -> float:
    """A device's speed in cost units/s: the prior, pulled toward the measured rate.

    The prior counts as ``PRIOR_WEIGHT_S`` seconds of work done at
    ``prior_rate``; measurements add their own cost and seconds, so the result
    is (prior_rate·W + cost_done) / (W + busy_s): the prior with no evidence,
    the measured ``cost_done / busy_s`` once busy time dwarfs W.
    """
    cost_done = max(0.0, cost_done)
    busy_s = max(0.0, busy_s)
    prior_rate = max(0.0, prior_rate)
    return (prior_rate * PRIOR_WEIGHT_S + cost_done) / (PRIOR_WEIGHT_S + busy_s)


def fleet_base_rate(observations: Iterable[tuple[float, float, float]], default: float) -> float:
    """Cost units/s per unit of capability weight, measured across all devices.

    ``observations`` are (weight, cost_done, busy_s) per device. The prior of
    a device that has finished nothing yet is ``weight × fleet_base_rate``: in
    the same units as the measured rates (cost units/s) without guessing how
    fast a task is. ``default`` is used until any device has been busy.
    """
    cost = weighted_busy = 0.0
    for weight, cost_done, busy_s in observations:
        cost += max(0.0, cost_done)
        weighted_busy += max(0.0, weight) * max(0.0, busy_s)
    return cost / weighted_busy if weighted_busy > 0 and cost > 0 else default


# Before the victim reads a Cut it finishes the batch (or slice) in progress and
# polls its pipe (every 50 ms); the thief then pays a unit's hand-off and reads up
# to the cut (under one index stride). Count that as this many seconds of the
# thief's time, on top of the measured fixed cost of a unit, so marginal cuts
# are not made.
CUT_LATENCY_S = 0.1


def cut_cost(
    done: float,
    total: float,
    victim_rate: float,
    thief_rate: float,
    *,
    head_min: float = 0.0,
    tail_min: float = 0.0,
    latency_s: float = CUT_LATENCY_S,
    victim_after_s: float = 0.0,
) -> float | None:
    """Where to cut a running unit, in work from its start, so victim and thief finish together.

    ``done`` of ``total`` (cost units) is done; the victim keeps [done, c) and then
    has ``victim_after_s`` seconds of queue, the thief gets [c, total). Each share
    keeps at least its floor (``head_min``, ``tail_min``: below it a unit's fixed
    cost would show). None when no cut is worth it: too little left, or the thief
    would not finish its share before the victim would finish everything alone.
    """
    if victim_rate <= 0 or thief_rate <= 0:
        return None
    left = total - done
    if left <= 0 or left < head_min + tail_min:
        return None
    # victim ends at (c - done)/rv + after; thief at latency + (total - c)/rt: equal at
    c = (latency_s + total / thief_rate + done / victim_rate - victim_after_s) / (1 / victim_rate + 1 / thief_rate)
    c = min(max(c, done + head_min), total - tail_min)
    if not cut_pays(done, total, c, victim_rate, thief_rate, latency_s, victim_after_s):
        return None
    return c


def cut_pays(done: float, total: float, c: float, victim_rate: float, thief_rate: float,
                   latency_s: float = CUT_LATENCY_S, victim_after_s: float = 0.0) -> bool:
    """A cut at ``c`` pays: the thief ends its share before the victim alone would end it all."""
    return latency_s + (total - c) / thief_rate < (total - done) / victim_rate + victim_after_s
