from __future__ import annotations

import math
import random

import pytest

from virnucpro_bridge.policy.throughput import MAX_UNITS, Throughput, is_stalled


def test_no_completions() -> None:
    assert Throughput().rate(100.0) is None


def test_window_rate() -> None:
    t = Throughput(window_s=60.0, min_units=2)
    for end in range(1, 31):  # one 10-sequence unit per second, each taking 1 s
        t.add(float(end), 10, 1.0)
    assert t.rate(30.0) == pytest.approx(10.0)
    # 100 s later, 20 more units (one per second), earlier ones out of the window
    for end in range(101, 121):
        t.add(float(end), 10, 1.0)
    assert t.rate(150.0) == pytest.approx(200 / 50)  # 20 units, earliest start 100


def test_extends_to_last_min_units() -> None:
    t = Throughput(window_s=60.0, min_units=3)
    t.add(10.0, 100, 10.0)  # starts at 0
    t.add(20.0, 100, 10.0)
    t.add(30.0, 100, 10.0)
    t.add(40.0, 100, 10.0)
    # At 1,000 nothing is in the window: the last 3 count, from start 10.
    assert t.rate(1000.0) == pytest.approx(300 / 990)
    # At 80 the window holds units ending 20..40 (3 >= min): the one ending at 10 is out.
    assert t.rate(80.0) == pytest.approx(300 / 70)


def test_out_of_order_reports() -> None:
    t = Throughput(window_s=10.0, min_units=1)
    t.add(100.0, 5, 1.0)
    t.add(95.0, 5, 1.0)  # arrives late
    t.add(99.0, 5, 1.0)
    assert t.rate(100.0) == pytest.approx(15 / 6)


def test_zero_span_is_none() -> None:
    t = Throughput()
    t.add(5.0, 10, 0.0)
    assert t.rate(5.0) is None
    assert t.rate(6.0) == pytest.approx(10.0)


def test_memory_is_bounded() -> None:
    t = Throughput(window_s=10.0, min_units=5)
    for i in range(100_000):
        t.add(i * 0.5, 1, 0.5)
    assert len(t._done) <= 21 + 5  # 10 s of 2/s, plus the min_units tail


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Throughput(window_s=0)
    with pytest.raises(ValueError):
        Throughput(min_units=0)


def test_is_stalled() -> None:
    assert is_stalled(400.0, 100.0, True, 300.0)
    assert not is_stalled(399.0, 100.0, True, 300.0)
    assert not is_stalled(10_000.0, 100.0, False, 300.0)  # no work: never stalled
    assert not is_stalled(10_000.0, None, True, 300.0)


def brute_rate(done: list[tuple[float, int, float]], now: float, window: float, min_units: int) -> float | None:
    """The definition, walked from the newest completion: all of the window, at least min_units."""
    kept = sorted(done)[-MAX_UNITS:]
    cutoff = now - window
    sequences, earliest, n = 0, math.inf, 0
    for end, seqs, start in reversed(kept):
        if n >= min_units and end < cutoff:
            break
        sequences += seqs
        earliest = min(earliest, start)
        n += 1
    if not n:
        return None
    return sequences / (now - earliest) if now > earliest else None


def test_the_running_rate_matches_the_definition_with_reports_out_of_order() -> None:
    rng = random.Random(3)
    tp, done, now, latest, at = Throughput(window_s=5.0, min_units=4), [], 0.0, 0.0, 0.0
    for step in range(3_000):
        now += rng.expovariate(20.0)
        end = now - (rng.random() * 0.05 if rng.random() < 0.2 else 0.0)  # some arrive late
        duration = rng.choice((0.0, rng.expovariate(1.0), rng.uniform(0, 8)))
        seqs = rng.randint(1, 50)
        tp.add(end, seqs, duration)
        done.append((end, seqs, end - duration))
        latest = max(latest, end)
        if step % 7 == 0:
            at = max(at, latest + rng.choice((0.0, 1.0, 6.0)))  # time only moves forward
            expected = brute_rate(done, at, 5.0, 4)
            assert tp.rate(at) == (pytest.approx(expected) if expected is not None else None)
