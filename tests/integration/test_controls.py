"""pause / resume / drain / stop on a live run, driven in-process through the coordinator.

The Run is started the way ``lbtui run`` starts it (spawned workers, the
dispatcher thread); the test plays the UI: it calls the commands and reads
snapshots.
"""

from __future__ import annotations

import pytest

from tests.helpers.wait import wait_for
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.runner import Run

from .conftest import InProcessRuns, assert_each_unit_once, gone, read_manifest

UNIT_S = 0.2  # seconds per unit at speed 1 (12 seqs x 250 residues at 15,000/s)
RUN_END_S = 60  # a run that has not ended by then hangs; the normal end takes seconds


@pytest.fixture
def start_run(tmp_path):
    runs = InProcessRuns(tmp_path)
    yield runs.start
    runs.close(RUN_END_S)


def device(run: Run, index: int) -> S.DeviceView:
    return run.coord.snapshot().devices[index]


def test_pause_stops_one_device_and_resume_restarts_it(start_run) -> None:
    run = start_run(16, "sim:1,1", steal=False)  # no stealing: the paused queue waits for resume
    coord = run.coord
    wait_for(lambda: device(run, 0).units_done >= 1, what="SIM0's first unit")
    coord.pause(0)
    wait_for(lambda: device(run, 0).state == S.PAUSED, what="SIM0 paused")
    paused_done = device(run, 0).units_done
    other_done = device(run, 1).units_done
    wait_for(lambda: device(run, 1).units_done >= other_done + 2, what="SIM1 going on")
    view = device(run, 0)
    assert view.units_done == paused_done and view.current_unit is None and view.queue_depth > 0
    coord.resume(0)
    wait_for(lambda: device(run, 0).units_done > paused_done, what="SIM0 resumed")
    assert run.wait(RUN_END_S) == 0
    assert_each_unit_once(read_manifest(run.out), {(f"f{i:02d}.fa", 0) for i in range(16)})


def test_paused_devices_queue_is_taken_by_the_others(start_run) -> None:
    run = start_run(10, "sim:1,1", steal_interval=0.2)
    wait_for(lambda: device(run, 0).state == S.RUNNING, what="SIM0 running")
    with run.coord.lock:  # what SIM0 had done and held at the moment of the pause
        run.coord.pause(0)
        at_pause = device(run, 0)
    expected = at_pause.units_done + (at_pause.current_unit is not None)
    # SIM0 finishes its unit, then SIM1 takes everything left; the run ends without a resume
    assert run.wait(RUN_END_S) == 0
    summary = run.coord.summary
    assert summary["files_done"] == summary["files_total"] >= 10  # pieces cut in flight count as units
    assert summary["devices"][0]["files_done"] == expected
    assert summary["devices"][0]["final_state"] == S.PAUSED


def test_drain_gives_the_queue_back_and_stops_the_device(start_run) -> None:
    run = start_run(15, "sim:1,1,1")
    coord = run.coord
    wait_for(lambda: device(run, 0).units_done >= 1, what="SIM0's first unit")
    coord.drain(0)
    wait_for(lambda: device(run, 0).queue_depth == 0, what="SIM0's queue given back")
    at_drain = device(run, 0)
    wait_for(lambda: device(run, 0).state == S.DRAINED, what="SIM0 drained")
    done = device(run, 0).units_done
    assert done <= at_drain.units_done + 1  # at most the unit it had in flight
    assert run.wait(RUN_END_S) == 0
    summary = coord.summary
    assert summary["devices"][0]["final_state"] == S.DRAINED
    assert summary["devices"][0]["files_done"] == done
    assert summary["files_done"] == summary["files_total"] >= 15  # pieces cut in flight count as units
    assert_each_unit_once(read_manifest(run.out), {(f"f{i:02d}.fa", 0) for i in range(15)})
    assert any(e.kind == S.EV_CONTROL and "SIM0 drained" in e.message for e in coord.snapshot().events)


def test_stop_ends_units_in_flight_at_their_next_record_and_keeps_what_they_did(start_run) -> None:
    run = start_run(16, "sim:1,1", sim_rate=1_500.0)  # 12 records of 250 residues: 2 s a unit
    coord = run.coord
    wait_for(lambda: coord.snapshot().units_done >= 2, what="two units done")
    with coord.lock:  # the units in flight at the moment of the stop
        coord.stop(now=False)
        in_flight = {b.in_flight.unit.rel: b.in_flight.unit for b in coord.books if b.in_flight is not None}
    assert run.wait(RUN_END_S) == 130
    rows = read_manifest(run.out)
    for rel, unit in in_flight.items():  # each kept its head (or, in its last record, all of it)
        assert any(r["file"] == rel and r["start"] == unit.start and r["sequences"] > 0 for r in rows), rel
    events = [e.message for e in coord.snapshot().events]
    cut = [m for m in events if "records kept, the rest left for the resume" in m]
    assert cut, events  # a 12-record unit stopped after its last record started is rare
    summary = coord.summary
    assert summary["exit_code"] == 130
    assert summary["files_done"] == len(rows) < summary["files_total"]
    assert summary["files_not_run"] == summary["files_total"] - len(rows)  # the rests of the cut units too
    assert (run.out / "summary.json").exists()


def test_stop_now_kills_workers_at_once(start_run) -> None:
    # 200 s units and a --grace longer still: only a stop that kills the units
    # in flight ends the run before the wait gives up.
    run = start_run(16, "sim:0.001,0.001", grace=900.0)
    wait_for(lambda: run.coord.snapshot().units_in_flight == 2, what="both devices running")
    pids = [d.pid for d in run.coord.snapshot().devices]
    run.coord.stop(now=True)
    assert run.wait(RUN_END_S) == 130
    summary = run.coord.summary
    assert summary["files_done"] == 0 and summary["files_failed"] == 0
    assert read_manifest(run.out) == []
    wait_for(lambda: all(gone(pid) for pid in pids), what=f"workers {pids} to be gone")
