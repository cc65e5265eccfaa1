"""Pause, resume and drain on a Ray run, driven in-process through the coordinator
(the test plays the UI, as tests/integration/test_controls.py does locally)."""

from __future__ import annotations

import psutil
import pytest

pytest.importorskip("ray")

from tests.integration.conftest import (  # noqa: E402
    InProcessRuns,
    assert_each_unit_once,
    read_manifest,
    wait_for,
)
from virnucpro_bridge.control import snapshot as S  # noqa: E402
from virnucpro_bridge.runner import Run  # noqa: E402


@pytest.fixture
def start_run(cluster, tmp_path):
    runs = InProcessRuns(tmp_path, backend="ray", ray_address=cluster)
    yield runs.start
    runs.close(30)


def device(run: Run, index: int) -> S.DeviceView:
    return run.coord.snapshot().devices[index]


def test_pause_and_resume_with_live_readings(start_run) -> None:
    run = start_run(14, "sim:1,1", steal=False)  # no stealing: the paused queue waits for resume
    coord = run.coord
    wait_for(lambda: device(run, 0).units_done >= 1, what="SIM0's first unit")
    # Readings come from the actors' report() calls: heartbeat, pid and utilization arrive.
    wait_for(lambda: device(run, 0).utilization is not None, what="SIM0's utilization")
    assert device(run, 0).pid == run.backend.pids[0]
    coord.pause(0)
    wait_for(lambda: device(run, 0).state == S.PAUSED, timeout=10, what="SIM0 paused")
    paused_done = device(run, 0).units_done
    other_done = device(run, 1).units_done
    wait_for(lambda: device(run, 1).units_done >= other_done + 2, what="SIM1 going on")
    view = device(run, 0)
    assert view.units_done == paused_done and view.current_unit is None and view.queue_depth > 0
    coord.resume(0)
    wait_for(lambda: device(run, 0).units_done > paused_done, timeout=10, what="SIM0 resumed")
    assert run.wait(60) == 0
    assert_each_unit_once(read_manifest(run.out), {(f"f{i:02d}.fa", 0) for i in range(14)})


def test_drain_gives_the_queue_back_and_stops_the_actor(start_run) -> None:
    run = start_run(12, "sim:1,1,1")
    coord = run.coord
    wait_for(lambda: device(run, 0).units_done >= 1, what="SIM0's first unit")
    coord.drain(0)
    wait_for(lambda: device(run, 0).state == S.DRAINED, timeout=10, what="SIM0 drained")
    done = device(run, 0).units_done
    assert device(run, 0).queue_depth == 0
    pid = run.backend.pids[0]
    wait_for(lambda: not psutil.pid_exists(pid), timeout=20, what="SIM0's actor process gone")
    assert run.wait(60) == 0
    summary = coord.summary
    assert summary["devices"][0]["final_state"] == S.DRAINED
    assert summary["devices"][0]["files_done"] == done
    assert summary["files_done"] == summary["files_total"] >= 12  # pieces cut in flight count as units
    assert_each_unit_once(read_manifest(run.out), {(f"f{i:02d}.fa", 0) for i in range(12)})


def test_an_exception_in_the_dispatcher_winds_down_and_exits_3(start_run, tmp_path) -> None:
    run = start_run(10, "sim:1,1", grace=10.0)
    calls = {"n": 0}
    real = run.coord.next_unit

    def broken(index, allow_steal=True):
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("injected dispatcher bug")
        return real(index, allow_steal)

    run.coord.next_unit = broken
    assert run.wait(60) == 3
    snap = run.coord.snapshot()
    assert snap.finished and snap.error.startswith("internal error: RuntimeError: injected dispatcher bug")
    out = tmp_path / "out"
    assert "injected dispatcher bug" in (out / "errors.log").read_text()
    rows = read_manifest(out)
    assert 0 < len(rows) < 10  # units that finished, also while winding down, keep their lines
    assert_each_unit_once(rows, {(r["file"], 0) for r in rows})
    assert all((out / r["output"]).exists() for r in rows)
    pids = [p for p in run.backend.pids if p]
    wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), timeout=20, what="the actors gone")


def test_a_stop_ends_units_in_flight_at_their_next_record_and_keeps_them(start_run) -> None:
    """As locally: units of 40 records (20 s each) and a long --grace; the stop cuts
    them at their next record, their heads are recorded, the run ends interrupted."""
    run = start_run(4, "sim:1,1", seqs=40, sim_rate=500.0, grace=900.0, split_min="1000")
    coord = run.coord
    wait_for(lambda: coord.snapshot().units_in_flight == 2 and all(
        (d.current_progress or 0) > 0.05 for d in coord.snapshot().devices), what="both devices into a unit")
    coord.stop(now=False)
    assert run.wait(60) == 130
    rows = read_manifest(run.out)
    assert len(rows) == 2 and all(0 < r["sequences"] < 40 for r in rows), rows
    kept = [e.message for e in coord.snapshot().events if "records kept" in e.message]
    assert len(kept) == 2, kept
