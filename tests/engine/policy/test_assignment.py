from __future__ import annotations

import random

import pytest

from virnucpro_bridge.policy.assignment import assign, finish_times


def test_largest_first_onto_earliest_finish() -> None:
    # 10 -> dev0 (10/2=5 < 10/1); 6 -> dev1 (6 < (10+6)/2=8); 5 -> dev0 (7.5 < 11); 1 -> dev1 (7 < 8)
    plan = assign([1, 5, 10, 6], [2.0, 1.0])
    assert plan == [[2, 1], [3, 0]]
    assert finish_times([1, 5, 10, 6], [2.0, 1.0], plan) == [7.5, 7.0]


def test_ties_go_to_lower_index() -> None:
    assert assign([3, 3, 3], [1.0, 1.0, 1.0]) == [[0], [1], [2]]
    assert assign([1, 1, 1, 1], [1.0, 1.0]) == [[0, 2], [1, 3]]


def test_unweighted_ignores_speed_differences() -> None:
    costs = [4.0] * 6
    assert [len(p) for p in assign(costs, [3.0, 1.0])] == [5, 1]  # a tie at 4.0 goes to device 0
    assert [len(p) for p in assign(costs, [1.0, 1.0])] == [3, 3]


def test_every_unit_exactly_once_and_near_lower_bound() -> None:
    rng = random.Random(7)
    costs = [rng.lognormvariate(0, 0.8) for _ in range(240)]
    speeds = [2.5, 1.5, 1.5, 1, 1, 1, 0.9, 0.75]
    plan = assign(costs, speeds)
    assert sorted(i for p in plan for i in p) == list(range(240))
    for p in plan:  # largest first within each device
        assert [costs[i] for i in p] == sorted((costs[i] for i in p), reverse=True)
    lb = max(sum(costs) / sum(speeds), max(costs) / max(speeds))
    assert max(finish_times(costs, speeds, plan)) / lb < 1.02
    # Ignoring weights on these devices is far worse: the point of --no-weighted's comparison.
    unweighted = assign(costs, [1.0] * 8)
    assert max(finish_times(costs, speeds, unweighted)) / lb > 1.3


def test_edge_cases() -> None:
    assert assign([], [1.0, 2.0]) == [[], []]
    assert assign([0, 0], [1.0]) == [[0, 1]]
    with pytest.raises(ValueError):
        assign([1], [])
    with pytest.raises(ValueError):
        assign([1], [1.0, 0.0])
