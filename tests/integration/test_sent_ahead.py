"""Short units sent ahead to local workers, under pause, drain, stop and a killed worker.

Units here take about 10 ms, so the dispatcher sends several ahead to each
worker (``backends/local/ahead.py``). Whatever happens to a device, every
unit must still run exactly once, and a device told to stop starting units
must start none once its worker has answered the withdrawal.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.helpers.wait import wait_for
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.runner import Run

from .conftest import InProcessRuns, assert_each_unit_once, read_manifest

FILES = 400
SIM_RATE = 25_000.0  # 1 record of 250 residues: 10 ms a unit at speed 1
RUN_END_S = 90


@pytest.fixture
def start_run(tmp_path):
    runs = InProcessRuns(tmp_path)
    yield lambda gpus, **cfg: runs.start(FILES, gpus, seqs=1, sim_rate=SIM_RATE, **cfg)
    runs.close(RUN_END_S)


def all_files() -> set[tuple[str, int]]:
    return {(f"f{i:02d}.fa", 0) for i in range(FILES)}


def results(out) -> set[str]:
    return {f"units/{p.name}" for p in (out / "units").iterdir() if not p.name.startswith(".tmp-")}


def sent_somewhere(run: Run) -> bool:
    with run.coord.lock:
        return any(b.sent for b in run.coord.books)


def settled(run: Run, index: int) -> tuple[int, bool]:
    """(units done, holds nothing sent ahead and runs nothing) for device ``index``."""
    with run.coord.lock:
        book = run.coord.books[index]
        return book.units_done, book.in_flight is None and not book.sent and not book.withdrawing


def test_a_paused_device_starts_nothing_once_it_answered(start_run) -> None:
    run = start_run("sim:1,1")
    wait_for(lambda: run.coord.snapshot().units_done >= 20, what="20 units done")
    assert sent_somewhere(run) or run.coord.snapshot().units_done < FILES  # units do go ahead
    run.coord.pause(0)
    wait_for(lambda: settled(run, 0)[1], what="SIM0 idle, holding nothing")
    done = settled(run, 0)[0]
    wait_for(lambda: run.coord.snapshot().devices[1].units_done >= 40, what="SIM1 going on")
    time.sleep(0.3)
    assert settled(run, 0)[0] == done
    run.coord.resume(0)
    assert run.wait(RUN_END_S) == 0
    assert_each_unit_once(read_manifest(run.out), all_files())


def test_a_drained_device_hands_back_what_it_held(start_run) -> None:
    run = start_run("sim:1,1,1")
    wait_for(lambda: run.coord.snapshot().units_done >= 20, what="20 units done")
    run.coord.drain(0)
    wait_for(lambda: run.coord.snapshot().devices[0].state == S.DRAINED, what="SIM0 drained")
    assert run.wait(RUN_END_S) == 0
    rows = read_manifest(run.out)
    assert_each_unit_once(rows, all_files())
    assert run.coord.summary["devices"][0]["final_state"] == S.DRAINED


def test_a_stop_leaves_no_result_that_was_not_recorded(start_run) -> None:
    run = start_run("sim:1,1")
    wait_for(lambda: run.coord.snapshot().units_done >= 20, what="20 units done")
    run.coord.stop()
    assert run.wait(RUN_END_S) == 130
    rows = read_manifest(run.out)
    assert len({r["file"] for r in rows}) == len(rows) < FILES
    assert results(run.out) == {r["output"] for r in rows}  # a unit sent ahead ran only if recorded


def test_a_killed_worker_loses_nothing_it_held(start_run) -> None:
    run = start_run("sim:1,1", stall_timeout=30.0)
    wait_for(lambda: run.coord.snapshot().units_done >= 20, what="20 units done")
    wait_for(lambda: run.coord.books[0].sent > 0, what="units sent ahead to SIM0")
    os.kill(run.coord.books[0].pid, signal.SIGKILL)
    assert run.wait(RUN_END_S) == 0
    assert_each_unit_once(read_manifest(run.out), all_files())
    assert run.coord.summary["devices"][0]["final_state"] == S.DEAD
