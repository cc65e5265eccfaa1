"""Derived numbers: lower bound, intervals, device rows."""

from __future__ import annotations

import pytest

from lbtui.report.scale import TimeScale
from lbtui.report.stats import device_rows, intervals, lower_bound, makespan, parts
from virnucpro_bridge.runfiles.reader import Event, load

from .runfolder import make_run


def test_lower_bound_from_measured_speeds(tmp_path) -> None:
    rf = load(make_run(tmp_path / "run", speeds=(2.0, 1.0, 1.0)).path)
    units = rf.session_units
    # Measured speeds are 200, 100, 100 seq/s: the balanced term beats the largest unit's.
    assert lower_bound(units) == pytest.approx(sum(u.sequences for u in units) / 400.0)
    (part,) = parts(rf)
    assert makespan(part) is not None and makespan(part) >= lower_bound(units)


def test_lower_bound_is_the_largest_unit_when_it_dominates(tmp_path) -> None:
    rf = load(make_run(tmp_path / "run", units=2, speeds=(1.0, 1.0)).path)
    assert lower_bound(rf.session_units) == pytest.approx(max(u.sequences for u in rf.session_units) / 100.0)


def test_open_intervals_run_to_the_end(tmp_path) -> None:
    events = [Event(10.0, "control", "info", "", 1, None, "pause"),
              Event(12.0, "control", "info", "", 1, None, "resume"),
              Event(13.0, "control", "info", "", 0, None, "drain"),
              Event(14.0, "control", "info", "", None, None, "stealing_off")]
    found = {(i.what, i.device): (i.start, i.end) for i in intervals(events, 20.0)}
    assert found == {("paused", 1): (10.0, 12.0), ("draining", 0): (13.0, 20.0), ("stealing off", None): (14.0, 20.0)}


def test_device_rows_without_summary_count_the_manifest(tmp_path) -> None:
    rf = load(make_run(tmp_path / "run", exit_code=None).path)
    rows = device_rows(rf)
    assert [r.units for r in rows] == [8, 8, 8]
    assert sum(r.stolen_in for r in rows) == sum(u.stolen for u in rf.units)
    assert rows[1].stolen_out == 0 and rows[0].stolen_out == 1  # from the steal event
    assert all(r.busy_pct is not None and 0 < r.busy_pct <= 100 for r in rows)


def test_a_lone_reading_is_a_dot_and_no_reading_is_no_chart() -> None:
    from lbtui.report.charts import chart
    from virnucpro_bridge.runfiles.reader import Device, Sample

    devices = [Device(0, "g0"), Device(1, "g1")]
    samples = [Sample(5.0, 0, 10.0, None, None), Sample(4.0, 1, 8.0, None, None), Sample(6.0, 1, 9.0, None, None)]
    scale = TimeScale([(0.0, 10.0, "session 1", "")], 70, 1100)
    svg = chart(samples, devices, "seq_per_s", scale, "", "throughput")
    assert svg is not None and svg.count("<path") == 2
    assert svg.count("h1") == 1  # device 0's single reading; device 1 is a line
    assert chart(samples, devices, "util_pct", scale, "%", "utilization") is None
