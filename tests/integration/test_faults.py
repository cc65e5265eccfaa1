"""Faults: a worker killed mid-run, the main process killed (then resumed), signals."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time

import psutil
import pytest

from lbtui.run_cmd import SAME_REQUEST_S
from tests.helpers.wait import wait_for

from .conftest import (
    assert_each_unit_once,
    gone,
    make_inputs,
    read_manifest,
    run_json,
    tiles,
    unit_results,
    write_fasta,
)


class LineReader:
    """Collects a process's stdout lines as they arrive (a thread drains the pipe,
    so the process never blocks on a full pipe while the test waits)."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def has(self, pattern: str) -> bool:
        """A line matching ``pattern`` (a regex; case does not matter, as device labels may vary)."""
        return any(re.search(pattern, line, re.IGNORECASE) for line in list(self.lines))

    def text(self) -> str:
        self._thread.join(5)
        return "\n".join(self.lines)


def test_sigkill_of_a_worker_loses_nothing(tmp_path, start_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 15, seqs=12)  # 0.2 s per unit
    out = tmp_path / "out"
    proc = start_lbtui(inputs, "--gpus", "sim:1,1,1", "--sim-rate", "15000", "--refresh", "0.5", out=out)
    reader = LineReader(proc.stdout)
    victim = run_json(out)["devices"][1]["pid"]
    wait_for(lambda: len(read_manifest(out)) >= 2, what="two units done")
    os.kill(victim, signal.SIGKILL)
    # How fast a death is noticed is a latency, measured by benchmarks; here only that it is.
    wait_for(lambda: reader.has("SIM1 died: killed by SIGKILL"), what="the death of SIM1 in the log")
    assert proc.wait(60) == 0, proc.stderr.read()
    assert_each_unit_once(read_manifest(out), {(f"f{i:02d}.fa", 0) for i in range(15)})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files_done"] == summary["files_total"] >= 15 and summary["files_failed"] == 0
    assert summary["devices"][1]["final_state"] == "dead"
    assert [d["final_state"] for d in summary["devices"]].count("done") == 2
    assert len(unit_results(out)) == len(read_manifest(out))  # one result per unit or piece


def test_sigkill_of_the_main_process_then_resume(tmp_path, start_lbtui, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 16, seqs=12)
    out = tmp_path / "out"
    # 0.4 s units (whole files: a floor of 1,000 records): the kill lands mid-run
    args = ("--gpus", "sim:1,1", "--sim-rate", "7500", "--split-min", "1000")
    proc = start_lbtui(inputs, *args, out=out)
    info = run_json(out)  # written once the workers (and the Manager) are up
    children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    workers = [d["pid"] for d in info["devices"]]
    assert set(workers) <= set(children) and len(children) >= 3  # the workers and the Manager
    wait_for(lambda: len(read_manifest(out)) >= 3, what="three units done")
    proc.kill()
    proc.wait(60)
    # Orphans would live on forever: their exiting at all is the behaviour under test.
    wait_for(lambda: all(gone(pid) for pid in children),
             what=f"workers and Manager {children} to exit on their own")
    assert not (out / "summary.json").exists()
    # every result present is whole; temp files are the only possible leftovers
    for path in (out / "units").rglob("*"):
        if path.is_file() and not path.name.startswith(".tmp-"):
            json.loads(path.read_text())
    first = read_manifest(out)
    assert 3 <= len(first) < 16

    res = run_lbtui(inputs, *args, out=out)
    assert res.code == 0, res.stderr
    assert_each_unit_once(read_manifest(out), {(f"f{i:02d}.fa", 0) for i in range(16)})
    summary = res.summary()
    assert summary["files_skipped"] == len(first)
    assert summary["files_done"] == 16 and summary["files_total"] == 16
    assert "resuming" in res.stdout
    assert not list(out.rglob(".tmp-*"))
    assert len(unit_results(out)) == 16

    # A third run has nothing to do; after changing one input, only that file runs again.
    again = run_lbtui(inputs, *args, out=out)
    assert again.code == 0 and again.summary()["files_skipped"] == 16
    assert len(read_manifest(out)) == 16
    write_fasta(inputs / "f05.fa", 12, seed=99)
    changed = run_lbtui(inputs, *args, out=out)
    assert changed.code == 0, changed.stderr
    rows = read_manifest(out)
    assert len(rows) == 17 and rows[-1]["file"] == "f05.fa"
    assert changed.summary()["files_skipped"] == 15


def test_resume_reruns_a_unit_whose_result_is_missing(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 3, seqs=4)
    res = run_lbtui(inputs, "--gpus", "sim:1", "--sim-rate", "100000")
    assert res.code == 0
    (res.out / "units" / "f01.fa.json").unlink()
    (res.out / "units" / ".tmp-abc-f02.fa.json").write_text("{half")  # a killed writer's leftover
    again = run_lbtui(inputs, "--gpus", "sim:1", "--sim-rate", "100000")
    assert again.code == 0
    assert again.summary()["files_skipped"] == 2
    assert read_manifest(res.out)[-1]["file"] == "f01.fa"
    assert not list(res.out.rglob(".tmp-*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_after_units_in_flight(tmp_path, start_lbtui, sig) -> None:
    inputs = make_inputs(tmp_path / "in", 16, seqs=12)
    out = tmp_path / "out"
    proc = start_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", "15000", out=out)
    run_json(out)
    wait_for(lambda: len(read_manifest(out)) >= 2, what="two units done")
    proc.send_signal(sig)
    assert proc.wait(60) == 130
    summary = json.loads((out / "summary.json").read_text())
    rows = read_manifest(out)
    assert summary["exit_code"] == 130
    assert summary["files_done"] == len(rows) < 16
    assert summary["files_failed"] == 0
    assert len(unit_results(out)) == len(rows)  # units in flight ended at a record and were recorded
    assert "Traceback" not in proc.stderr.read()


def test_a_stop_cuts_long_units_and_a_rerun_does_only_the_rest(tmp_path, start_lbtui, run_lbtui) -> None:
    """Units of 40 records, 20 s each, and a --grace far longer: the stop does not wait
    for them. Each ends at its next record, its head is recorded, the rerun does the rest."""
    inputs = make_inputs(tmp_path / "in", 4, seqs=40)
    out = tmp_path / "out"
    proc = start_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", "500", "--grace", "900",
                       "--split-min", "1000", out=out)  # whole files: nothing cut for an idle device
    run_json(out)
    wait_for(lambda: (out / "metrics.csv").exists() and (out / "metrics.csv").read_text().count("\n") > 4,
             what="a few seconds of work")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 130
    stdout = proc.stdout.read()
    rows = read_manifest(out)
    assert len(rows) == 2 and all(0 < r["sequences"] < 40 for r in rows), rows  # two heads, cut short
    assert len(re.findall(r"records kept, the rest left for the resume", stdout)) == 2, stdout
    assert re.search(r"(?m)^interrupted: 2/\d+ units.*run the same command again to resume$", stdout), stdout
    kept = sum(r["sequences"] for r in rows)
    again = run_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", "100000", out=out)
    assert again.code == 0, again.stderr
    done_again = sum(r["sequences"] for r in read_manifest(out)) - kept
    assert done_again == 4 * 40 - kept  # only what the stop had not done
    for i in range(4):
        assert tiles([r for r in read_manifest(out) if r["file"] == f"f{i:02d}.fa"], 40)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_whole_process_group(tmp_path, start_lbtui, sig) -> None:
    """A terminal's Ctrl+C, ``kill -TERM -PGID``, Slurm's proctrack/linuxproc: the signal
    reaches the workers and the Manager too, and only the main process acts on it.
    No worker dies of it, so there is no false death, retry or failure."""
    inputs = make_inputs(tmp_path / "in", 16, seqs=12)
    out = tmp_path / "out"
    proc = start_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", "15000", out=out, new_session=True)
    run_json(out)
    wait_for(lambda: len(read_manifest(out)) >= 2, what="two units done")
    os.killpg(proc.pid, sig)
    assert proc.wait(60) == 130
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files_failed"] == 0
    assert summary["files_done"] == len(read_manifest(out)) == len(unit_results(out))
    assert all(d["final_state"] != "dead" for d in summary["devices"])
    assert all(d["restarts"] == 0 and d["fault_restarts"] == 0 for d in summary["devices"])
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] in ("death", "retry", "failure")], events
    assert all(row["attempt"] == 1 for row in read_manifest(out))
    assert "Traceback" not in proc.stderr.read()


def test_two_signals_at_once_are_one_stop(tmp_path, start_lbtui) -> None:
    """srun at a time limit: SIGTERM twice within milliseconds. The run stops as for
    one signal (units in flight kept), not "stop now"."""
    inputs = make_inputs(tmp_path / "in", 16, seqs=12)
    out = tmp_path / "out"
    proc = start_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", "15000", out=out)
    run_json(out)
    wait_for(lambda: len(read_manifest(out)) >= 2, what="two units done")
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 130
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    actions = [e.get("action") for e in events if e["kind"] == "control"]
    assert "stop" in actions and "stop_now" not in actions, actions
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files_done"] == len(read_manifest(out)) == len(unit_results(out))
    assert "Traceback" not in proc.stderr.read()


def test_second_signal_stops_at_once(tmp_path, start_lbtui) -> None:
    # Units of 300 s and a --grace longer still: only a second signal
    # that really stops at once ends the run before the wait below gives up.
    inputs = make_inputs(tmp_path / "in", 6, seqs=12)
    out = tmp_path / "out"
    proc = start_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", "10", "--grace", "900",
                       "--refresh", "0.2", "--split-min", "1000",  # whole files: 6 units
                       "--progress-interval", "0.2", "--verbose", out=out)  # every device's line, often
    reader = LineReader(proc.stdout)
    workers = [d["pid"] for d in run_json(out)["devices"]]
    wait_for(lambda: reader.has(r"\bSIM0 +running") and reader.has(r"\bSIM1 +running"),
             what="both devices running a unit")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: reader.has("stopping: units in flight end at their next record"), what="the first stop in the log")
    time.sleep(SAME_REQUEST_S)  # sooner, a second signal is the first one delivered twice
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130, reader.text()
    out_text = reader.text()  # the process has ended: its stdout is complete
    assert re.search(r"(?m)^interrupted: 0/\d+ units", out_text), out_text  # cut by the first, killed by the second
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 130
    assert summary["files_done"] == 0 and summary["files_failed"] == 0  # the units in flight were abandoned
    assert read_manifest(out) == []
    wait_for(lambda: all(gone(pid) for pid in workers), what=f"workers {workers} to be gone")


def test_resume_after_a_torn_manifest_line(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 4, seqs=4)
    res = run_lbtui(inputs, "--gpus", "sim:1", "--sim-rate", "100000")
    assert res.code == 0
    manifest = res.out / "manifest.jsonl"
    text = manifest.read_text()
    last = text.splitlines()[-1]
    manifest.write_text(text[: len(text) - len(last) // 2 - 1])  # killed mid-line
    again = run_lbtui(inputs, "--gpus", "sim:1", "--sim-rate", "100000")
    assert again.code == 0, again.stderr
    assert again.summary()["files_skipped"] == 3
    assert_each_unit_once(read_manifest(res.out), {(f"f{i:02d}.fa", 0) for i in range(4)})
    lines = manifest.read_text().splitlines()
    assert len(lines) == 4  # the torn line was cut off before the rerun appended: valid JSONL again
    assert [json.loads(line)["file"] for line in lines][-1] == json.loads(last)["file"]
