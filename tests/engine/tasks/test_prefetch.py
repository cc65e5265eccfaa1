"""The prefetch thread: order, exceptions where they happened, bounded read-ahead, clean stop."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest

from virnucpro_bridge.tasks.phases import PHASES, PhaseClock
from virnucpro_bridge.tasks.prefetch import Prefetch


def test_items_arrive_in_order_and_the_waits_are_counted():
    waits = []

    @contextmanager
    def waiting():
        waits.append(1)
        yield

    with Prefetch(iter(range(100)), waiting=waiting) as ahead:
        assert list(ahead) == list(range(100))
    assert len(waits) == 101  # one per item, and the end


def test_an_exception_is_raised_where_its_item_would_have_come():
    def source():
        yield 1
        yield 2
        raise OSError("damaged gzip")

    got = []
    with pytest.raises(OSError, match="damaged gzip"), Prefetch(source()) as ahead:
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_it_reads_at_most_depth_plus_one_ahead_and_close_stops_and_closes_the_source():
    made, closed = [], threading.Event()
    gate = threading.Event()

    def source():
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.set()

    ahead = Prefetch(source(), depth=2)
    assert next(ahead) == 0
    # the producer fills the queue (2) and blocks holding one more: never all 1000
    for _ in range(100):
        if len(made) >= 4:
            break
        gate.wait(0.01)
    ahead.close()
    assert closed.is_set() and len(made) <= 5
    assert list(ahead) == []


def test_the_phase_clock_adds_up_to_its_wall_time():
    now = [0.0]
    clock = PhaseClock(lambda: now[0])
    now[0] = 1.0
    assert clock.switch("cpu") == "input"
    now[0] = 3.0
    with clock.phase("gpu"):
        now[0] = 7.0
    now[0] = 7.5
    clock.switch("write")
    now[0] = 8.0
    totals = clock.totals()
    assert totals == {"input": 1.0, "cpu": 2.5, "gpu": 4.0, "write": 0.5}
    assert set(totals) == set(PHASES) and sum(totals.values()) == now[0] - clock.started
    with pytest.raises(ValueError, match="unknown phase"):
        clock.switch("lunch")
    clock.restart()
    assert sum(clock.totals().values()) == 0.0 and clock.current == "input"


def test_start_runs_first_in_the_producer_thread():
    seen = []

    def start():
        seen.append(threading.current_thread().name)

    with Prefetch(iter([1, 2]), start=start, name="lbtui-test-prefetch") as ahead:
        assert list(ahead) == [1, 2]
    assert seen == ["lbtui-test-prefetch"]
