"""`lbtui attach` on an ended run shows what its summary says of each device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from lbtui.finished import FinishedRun
from lbtui.remote import open_run
from virnucpro_bridge.errors import InputError

from .conftest import write_run_json


@pytest.mark.slow  # a process that has ended gives the run's pid
def test_a_retired_device_says_why_and_what_its_task_reported(tmp_path) -> None:
    out = tmp_path / "out"
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_run_json(out, pid=int(ended.stdout), control=None, started=time.time() - 100)
    devices = [
        {"index": 0, "name": "NVIDIA A100", "kind": "cuda", "weight": 2.0, "files_done": 3, "sequences": 300,
         "busy_s": 30.0, "final_state": "done", "source": "nvml", "task_notes": {"precision": "bf16"},
         "time_split_s": {"input": 3.0, "cpu": 1.0, "gpu": 25.0, "write": 1.0}, "energy_wh": 2.5,
         "task_counts": {"fp32_redone_batches": 1}},
        {"index": 1, "name": "Tesla T4", "kind": "cuda", "weight": 0.5, "files_done": 0, "sequences": 0,
         "busy_s": 3.0, "final_state": "dead", "source": "nvml",
         "reason": "retired: 3 units in a row failed on it (last: CUDA error: no kernel image)"},
    ]
    summary = {"makespan_s": 42.0, "files_total": 3, "files_done": 3, "files_failed": 0, "sequences": 300,
               "exit_code": 0, "finished_epoch": time.time(), "task": "virnucpro", "devices": devices}
    (out / "summary.json").write_text(json.dumps(summary))
    run = open_run(str(out))
    assert isinstance(run, FinishedRun)
    first, second = run.snapshot().devices
    assert first.source == "nvml" and dict(first.task_notes) == {"precision": "bf16"} and first.reason is None
    assert dict(first.time_split) == {"input": 3.0, "cpu": 1.0, "gpu": 25.0, "write": 1.0}
    assert first.energy_wh == 2.5 and dict(first.task_counts) == {"fp32_redone_batches": 1}
    assert second.time_split == () and second.energy_wh is None  # a summary without them (an older run)
    assert second.state == "dead" and second.reason.startswith("retired: 3 units in a row failed")


def test_a_run_on_another_host_says_where_and_how_to_attach(tmp_path) -> None:
    """From a login node: the pid in run.json is a compute node's, whatever runs here
    under that number. The line names the host and the command that reaches it."""
    out = tmp_path / "out"
    write_run_json(out, pid=os.getpid(), control=None)  # a live pid here: it must not count
    run = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**run, "host": "node-07", "slurm_job": "4711"}))
    with pytest.raises(InputError) as err:
        open_run(str(out))
    assert str(err.value) == (f"the run in {out} runs on node-07 (pid {os.getpid()}, Slurm job 4711), not on "
                              f"this host; attach from there: srun --overlap --jobid 4711 --pty lbtui attach {out}")
    (out / "run.json").write_text(json.dumps({**run, "host": "node-07"}))
    with pytest.raises(InputError, match=f"attach from there: ssh -t node-07 lbtui attach {out}$"):
        open_run(str(out))


def test_a_replayed_steal_keeps_its_count_and_its_number(tmp_path) -> None:
    """events.jsonl says 400: the replayed log says 400, numbered as the run numbered it."""
    from lbtui import format as fmt
    from lbtui.headless import event_line

    out = tmp_path / "out"
    write_run_json(out, pid=None, control=None, started=1000.0)
    events = [{"seq": 41, "time": 1001.0, "kind": "info", "level": "info", "message": "resuming"},
              {"seq": 42, "time": 1002.0, "kind": "steal", "level": "info", "message": "GPU1 stole big.fa#3",
               "device": 1, "unit": "big.fa#3", "thief": 1, "victim": 0, "sequences": 400, "run_id": "s2"}]
    (out / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    summary = {"files_total": 3, "files_done": 3, "exit_code": 0, "finished_epoch": 1010.0, "devices": []}
    snap = FinishedRun(out, json.loads((out / "run.json").read_text()), summary).snapshot()
    assert [e.seq for e in snap.events] == [41, 42]
    (steal,) = snap.steals
    assert steal.sequences == 400 and steal.seq == 42
    assert "(400 seqs)" in event_line(snap.events[1], fmt.device_labels(snap))
