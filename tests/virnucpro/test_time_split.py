"""Where a worker's time goes: waiting for input, host preparation, the model, writing.
The phases a worker reports add up to its wall time (within 5 %), in process and in a
real `lbtui run` (summary.json)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from multiprocessing import Pipe
from pathlib import Path

import pytest

from virnucpro_bridge.backends.local.worker import Reporter, serve
from virnucpro_bridge.coordinator.messages import STOP, Done, WorkItem
from virnucpro_bridge.hardware.devices import DeviceSpec
from virnucpro_bridge.tasks.phases import PHASES

from .test_task import DEMO_DATA, units_of


@pytest.mark.parametrize("prefetch", [True, False])
def test_the_phases_a_worker_reports_add_up_to_its_wall_time(cpu_task, tmp_path, prefetch):
    spec = DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1)
    status: dict = {}
    reporter = Reporter(spec, status, cpu_task.notes)
    reporter.phases, reporter.counts = cpu_task.phases, cpu_task.counts
    ours, theirs = Pipe()
    cpu_task.options["prefetch"] = prefetch
    units = units_of(DEMO_DATA / "hospital_swab.fa.gz", 40)
    replies = []
    started = time.monotonic()
    cpu_task.phases.restart()
    worker = threading.Thread(target=serve, args=(cpu_task, theirs, reporter, str(tmp_path)))
    worker.start()
    try:
        for i, unit in enumerate(units):
            ours.send(WorkItem(unit, str(tmp_path / f"u{i}.tsv"), 1))
            replies.append(ours.recv())  # one at a time: the worker waits for input in between
        ours.send(STOP)
        worker.join(timeout=600)
    finally:
        cpu_task.options.pop("prefetch")
    wall = time.monotonic() - started
    reporter.report()
    phases = status[0]["phases"]
    assert all(isinstance(r, Done) for r in replies) and len(replies) > 3
    assert set(phases) == set(PHASES) and all(v > 0 for v in phases.values()), phases
    assert abs(sum(phases.values()) - wall) <= 0.05 * wall, (phases, wall)
    assert status[0]["task_counts"] == {"fp32_redone_batches": 0}


@pytest.mark.slow
def test_summary_json_splits_each_devices_time(demo_models, tmp_path):
    """A real run on one CPU worker: its phases add up to its worker's wall time, which
    (ready before the first unit, stopped after the last) lies between the makespan and
    the run's whole time."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "30", "--task", "virnucpro",
           "--models", str(demo_models), "--out", str(out), "--gpus", "cpu:1", "--shard-size", "60",
           str(DEMO_DATA / "hospital_swab.fa.gz")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    device = summary["devices"][0]
    split, wall = device["time_split_s"], device["worker_wall_s"]
    assert set(split) == set(PHASES) and split["gpu"] > 0 and split["write"] > 0
    assert abs(sum(split.values()) - wall) <= 0.01 * wall + 0.01
    assert summary["makespan_s"] * 0.95 <= wall <= (summary["finished_epoch"] - summary["started_epoch"]) * 1.05
    assert abs(sum(device["time_split_pct"].values()) - 100.0) < 0.5
    assert device["energy_wh"] is None  # a CPU device: no energy reading
    assert device["task_counts"] == {"fp32_redone_batches": 0}
