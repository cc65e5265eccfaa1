from __future__ import annotations

import math

import pytest

from virnucpro_bridge.policy.stealing import (
    PRIOR_WEIGHT_S,
    VictimView,
    estimate_rate,
    fleet_base_rate,
    remaining_time,
    steal_candidates,
    worth_stealing,
)


def view(index: int, rate: float = 1.0, current: float = 0.0, queue: tuple[float, ...] = ()) -> VictimView:
    return VictimView(index, rate, current, sum(queue), len(queue), queue[-1] if queue else 0.0)


def test_remaining_time() -> None:
    assert remaining_time(view(0, 2.0, 4.0, (3.0, 3.0))) == 5.0
    assert remaining_time(view(0, 2.0)) == 0.0
    assert remaining_time(view(0, 0.0, 1.0)) == math.inf


def test_steal_only_if_thief_finishes_before_victim_starts() -> None:
    v = view(1, rate=1.0, current=5.0, queue=(2.0, 4.0))  # victim starts the tail at t=7
    assert worth_stealing(1.0, v)  # thief done at 4 < 7
    assert worth_stealing(0.6, v)  # 6.67 < 7
    assert not worth_stealing(0.5, v)  # 8 > 7
    assert not worth_stealing(4 / 7, v)  # equal is no gain: no steal


def test_no_thrashing_on_the_unit_about_to_start() -> None:
    # Idle victim with one queued unit starts it now: nothing to gain.
    assert not worth_stealing(100.0, view(1, current=0.0, queue=(5.0,)))
    # Empty queue: nothing to take.
    assert not worth_stealing(100.0, view(1, current=50.0))
    # A steal must not be worth reversing: after it, the ex-victim is never worth stealing back from.
    thief = view(0, rate=1.0, current=4.0, queue=())
    assert not worth_stealing(1.0, thief)


def test_paused_victim_is_always_worth_stealing_from() -> None:
    assert worth_stealing(0.1, view(1, rate=0.0, current=0.0, queue=(3.0, 3.0)))
    # Even its only queued unit, with nothing in flight: a stopped device never starts it.
    assert worth_stealing(0.1, view(1, rate=0.0, current=0.0, queue=(3.0,)))
    assert not worth_stealing(0.0, view(1, current=9.0, queue=(1.0,)))


def test_candidates_ordered_by_remaining_time() -> None:
    victims = [
        view(0, current=100.0, queue=(1.0,)),  # the thief itself: never
        view(1, current=5.0, queue=(1.0, 1.0)),  # remaining 7
        view(2, rate=2.0, current=10.0, queue=(4.0, 4.0)),  # remaining 9
        view(3, current=1.0, queue=(8.0, 1.0)),  # remaining 10
        view(4, current=1.0, queue=(3.0, 3.0, 3.0)),  # remaining 10, tie -> after 3
        view(5, current=0.5, queue=(1.0,)),  # tail 1 s vs starts in 0.5 s: not worth it
        view(6, current=50.0),  # no queue
    ]
    assert steal_candidates(0, 1.0, victims) == [3, 4, 2, 1]
    assert steal_candidates(0, 0.0, victims) == []
    assert steal_candidates(0, 1.0, []) == []


def test_estimate_rate_moves_from_prior_to_measurement() -> None:
    assert estimate_rate(100.0, 0.0, 0.0) == 100.0
    early = estimate_rate(100.0, 400.0, 1.0)  # measured 400/s after 1 s
    late = estimate_rate(100.0, 400.0 * 1000, 1000.0)
    assert 100.0 < early < 200.0
    assert late == pytest.approx(400.0, rel=0.01)
    # The exact blend: the prior counts as PRIOR_WEIGHT_S seconds of work.
    assert estimate_rate(100.0, 50.0, 5.0) == (100.0 * PRIOR_WEIGHT_S + 50.0) / (PRIOR_WEIGHT_S + 5.0)
    # Bad inputs are clamped, never negative or NaN.
    assert estimate_rate(-1.0, -5.0, -1.0) == 0.0


def test_fleet_base_rate() -> None:
    assert fleet_base_rate([], 7.0) == 7.0
    assert fleet_base_rate([(2.0, 0.0, 0.0), (1.0, 0.0, 0.0)], 7.0) == 7.0
    # dev0 (weight 2) did 400 in 10 s, dev1 (weight 1) did 100 in 5 s: 500 / (20 + 5).
    assert fleet_base_rate([(2.0, 400.0, 10.0), (1.0, 100.0, 5.0)], 7.0) == 20.0
