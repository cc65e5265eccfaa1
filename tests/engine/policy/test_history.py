from __future__ import annotations

import pytest

from virnucpro_bridge.policy.history import History


def test_keeps_samples_until_full() -> None:
    h = History(max_points=10)
    for i in range(9):
        h.add(float(i), float(i * 10))
    assert h.points() == tuple((float(i), float(i * 10)) for i in range(9))


def test_none_is_skipped() -> None:
    h = History()
    h.add(1.0, None)
    h.add(2.0, 5.0)
    h.add(3.0, None)
    assert h.points() == ((2.0, 5.0),)
    assert History().points() == ()


def test_halves_resolution_when_full() -> None:
    h = History(max_points=4)
    for i in range(4):
        h.add(float(i), float(i))
    # Four points -> two averaged pairs, and each point now holds 2 samples.
    assert h.points() == ((0.5, 0.5), (2.5, 2.5))
    assert h.stride == 2
    h.add(4.0, 4.0)
    assert h.points() == ((0.5, 0.5), (2.5, 2.5), (4.0, 4.0))  # partial bucket
    h.add(5.0, 6.0)
    assert h.points() == ((0.5, 0.5), (2.5, 2.5), (4.5, 5.0))


def test_odd_max_points_keeps_leftover_weighted() -> None:
    h = History(max_points=3)
    for i in range(3):
        h.add(float(i), 3.0 * i)
    assert h.points() == ((0.5, 1.5), (2.0, 6.0))
    h.add(3.0, 9.0)  # completes the bucket holding sample 2
    assert h.points() == ((0.5, 1.5), (2.5, 7.5))


def test_bounded_and_spans_whole_run() -> None:
    h = History(max_points=600)
    n = 100_000
    for i in range(n):
        h.add(float(i), 1.0)
    pts = h.points()
    assert len(pts) <= 600
    assert len(pts) >= 300
    assert pts[0][0] < n / 100  # still starts near the first sample
    assert pts[-1][0] > n * 0.99  # and reaches now
    assert all(v == pytest.approx(1.0) for _, v in pts)
    times = [t for t, _ in pts]
    assert times == sorted(times)


def test_mean_is_preserved() -> None:
    h = History(max_points=8)
    for i in range(64):
        h.add(float(i), float(i % 7))
    pts = h.points()
    assert sum(v for _, v in pts) / len(pts) == pytest.approx(sum(i % 7 for i in range(64)) / 64)


def test_bad_max_points() -> None:
    with pytest.raises(ValueError):
        History(max_points=1)
