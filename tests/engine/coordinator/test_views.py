"""Snapshots of a finished run stand still: the end, not a rate decaying as time passes."""

from __future__ import annotations

from .test_coordinator import make, unit


def test_a_finished_runs_snapshot_is_its_end_whenever_it_is_read() -> None:
    coord, clock = make((1.0, 1.0), [unit("a", 100, sequences=300), unit("b", 100, sequences=100)])
    for index in (0, 1):
        coord.next_unit(index)
    clock.advance(3.0)
    coord.unit_done(0, 300, 3.0)
    clock.advance(1.0)
    coord.unit_done(1, 100, 4.0)
    live = coord.snapshot()
    assert live.devices[0].throughput is not None
    coord.close_out(coord.settle())
    end = coord.snapshot()
    clock.advance(600.0)  # the dashboard is left open for ten minutes
    later = coord.snapshot()
    assert later == end and later.time == coord.finished_at
    assert [d.throughput for d in later.devices] == [100.0, 25.0]  # each device's mean: seqs ÷ busy s
    assert later.throughput == 400 / 4.0  # the run's: first dispatch to last completion
    assert coord.device_detail(0).device.throughput == 100.0
