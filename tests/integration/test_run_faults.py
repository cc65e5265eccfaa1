"""A run never hangs and never lies: a full disk, an internal error, a stuck
dispatcher under SIGTERM, the Manager killed, a stalled worker restarted.

Each ends by itself with the documented exit code and one line on stderr, and
a rerun with the same --out completes every unit exactly once.
"""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys

import pytest

from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.options import RunOptions
from virnucpro_bridge.runner import Run

from .conftest import (
    REPO,
    assert_each_unit_once,
    env_with,
    make_inputs,
    read_manifest,
    wait_for,
)

FAST = ("--gpus", "cpu:2", "--task", "sim", "--sim-rate", "40000", "--refresh", "0.25")
ALL6 = {(f"f{i:02d}.fa", 0) for i in range(6)}
END_S = 60  # "ends by itself": generous, never a speed assert


def one_clear_line(stderr: str, start: str) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("lbtui: error:")]
    assert len(errors) == 1 and errors[0].startswith(start), stderr
    assert "Traceback" not in stderr, stderr


def valid_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]  # raises on a torn line


# -- the output disk ---------------------------------------------------------------

def test_disk_full_in_a_worker_stops_the_run_and_a_rerun_resumes(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    full = tmp_path / "disk-is-full"
    full.touch()
    env = {"LBTUI_TEST_UNIT": "f03.fa", "LBTUI_TEST_STATE": str(tmp_path / "state"),
           "LBTUI_TEST_FULL": str(full)}
    res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.disk_tasks:DiskFullTask", env=env)
    assert res.code == 3, res.stderr
    one_clear_line(res.stderr, "lbtui: error: no space left on device writing ")
    assert "f03.fa" in res.stderr and "run the same command again to resume" in res.stderr
    assert "f03.fa" not in {r["file"] for r in res.manifest()}
    summary = res.summary()
    assert summary["exit_code"] == 3 and summary["internal_error"].startswith("no space left")
    full.unlink()  # space freed
    again = run_lbtui(inputs, *FAST, "--task", "tests.helpers.disk_tasks:DiskFullTask", env=env)
    assert again.code == 0, again.stderr
    assert_each_unit_once(valid_jsonl(again.out / "manifest.jsonl"), ALL6)


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="mounting a tmpfs needs root on Linux")
def test_a_real_full_disk_ends_the_run_and_resume_is_exact(tmp_path, run_lbtui) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip()}")
    try:
        inputs = make_inputs(tmp_path / "in", 90, seqs=12)
        out = mnt / "run"
        res = run_lbtui(
            inputs, "--gpus", "cpu:2", "--task", "sim", "--sim-rate", "1000000", out=out, timeout=END_S + 30
        )
        assert res.code == 3, res.stderr
        one_clear_line(res.stderr, "lbtui: error: no space left on device writing ")
        rows = valid_jsonl(out / "manifest.jsonl")  # no torn line, even with the disk full
        assert 0 < len(rows) < 90
        subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)
        again = run_lbtui(inputs, "--gpus", "cpu:2", "--task", "sim", "--sim-rate", "1000000", out=out)
        assert again.code == 0, again.stderr
        assert_each_unit_once(valid_jsonl(out / "manifest.jsonl"), {(f"f{i:02d}.fa", 0) for i in range(90)})
        assert not [p for p in (out / "units").iterdir() if p.name.startswith(".tmp-")]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# -- failures inside the engine, driven in-process -----------------------------------

def start_run(tmp_path, n_files: int = 8, sim_rate: float = 30_000.0, **cfg) -> Run:
    inputs = make_inputs(tmp_path / "in", n_files, seqs=12)
    config = RunOptions(inputs=[str(inputs)], gpus="cpu:2", task="sim", out=str(tmp_path / "out"),
                       refresh=0.25, grace=5.0, task_options={"sim_rate": sim_rate},
                       argv=["lbtui", "run", "(test)"], **cfg)
    run = Run(config)
    run.prepare()
    run.start()
    return run


def test_an_exception_in_the_dispatcher_ends_the_run_with_exit_3(tmp_path) -> None:
    run = start_run(tmp_path)
    calls = {"n": 0}
    real = run.coord.next_unit

    def broken(index, allow_steal=True):
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("injected dispatcher bug")
        return real(index, allow_steal)

    run.coord.next_unit = broken
    try:
        assert run.wait(END_S) == 3
        snap = run.coord.snapshot()
        assert snap.finished and snap.exit_code == 3
        assert snap.error.startswith("internal error: RuntimeError: injected dispatcher bug")
        assert any(e.kind == S.EV_ERROR for e in snap.events)
        out = tmp_path / "out"
        assert "injected dispatcher bug" in (out / "errors.log").read_text()
        assert json.loads((out / "summary.json").read_text())["exit_code"] == 3
        done = {r["file"] for r in read_manifest(out)}
        assert 0 < len(done) < 8  # units finished before the error keep their lines
    finally:
        if not run.finished:
            run.abort("test teardown")


def test_a_manifest_write_error_stops_the_run_and_keeps_the_manifest_whole(tmp_path) -> None:
    run = start_run(tmp_path)
    real = run.journal.manifest._write
    lines = {"n": 0}

    def fill_up(data: bytes) -> None:
        lines["n"] += 1
        if lines["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(data)

    run.journal.manifest._write = fill_up
    try:
        assert run.wait(END_S) == 3
        assert run.error.startswith(f"no space left on device writing {tmp_path / 'out' / 'manifest.jsonl'}")
        assert len(valid_jsonl(tmp_path / "out" / "manifest.jsonl")) == 3
    finally:
        if not run.finished:
            run.abort("test teardown")


def test_killing_the_manager_is_a_warning_and_the_run_goes_on(tmp_path) -> None:
    before = set(mp.active_children())
    # about 5 s of units: the kill lands mid-run; whole files (a floor of 1,000 records)
    run = start_run(tmp_path, n_files=10, sim_rate=3_000.0, split_min=1000)
    try:
        workers = {b.pid for b in run.coord.books}
        wait_for(lambda: any(d.memory is not None for d in run.coord.snapshot().devices),
                 timeout=END_S, what="first readings")
        manager = [p for p in mp.active_children() if p not in before and p.pid not in workers]
        assert len(manager) == 1, manager
        os.kill(manager[0].pid, signal.SIGKILL)
        assert run.wait(END_S) == 0
        warnings = [e.message for e in run.coord.snapshot().events if e.kind == S.EV_WARNING]
        assert any(m.startswith("live readings lost: the Manager process is gone") for m in warnings), warnings
        assert_each_unit_once(read_manifest(tmp_path / "out"), {(f"f{i:02d}.fa", 0) for i in range(10)})
    finally:
        if not run.finished:
            run.abort("test teardown")


# -- a stuck dispatcher still obeys SIGTERM --------------------------------------------

STUCK = """
import sys, threading
from virnucpro_bridge.backends.local import pool
from lbtui.cli import main

real = pool.LocalPool._step
calls = {"n": 0}
def step(self, ready, reports):
    calls["n"] += 1
    if calls["n"] == 40:  # hang forever holding the coordinator's lock, like a deadlock would
        print("dispatcher stuck", flush=True)
        threading.Event().wait()
    return real(self, ready, reports)
pool.LocalPool._step = step
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_ends_a_run_whose_dispatcher_is_stuck(tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 40, seqs=12)
    cmd = [sys.executable, "-c", STUCK, "run", "--headless", "--gpus", "cpu:2", "--task", "sim", "--sim-rate", "10000",
           "--grace", "1", "--refresh", "0.25", "--out", str(tmp_path / "out"), str(inputs)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env_with(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for(lambda: (tmp_path / "out" / "run.json").exists(), timeout=END_S, what="run.json")
        line = proc.stdout.readline()
        while line and "dispatcher stuck" not in line:
            line = proc.stdout.readline()
        assert line, "the dispatcher never got stuck"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=END_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    one_clear_line(err, "lbtui: error: the run did not stop within --grace")


# -- stalls act -----------------------------------------------------------------------

def test_a_stalled_worker_is_restarted_and_its_unit_done_elsewhere(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    env = {"LBTUI_TEST_UNIT": "f00.fa", "LBTUI_TEST_STATE": str(tmp_path / "state"),
           "LBTUI_TEST_HANG_S": "600"}  # a hung kernel: it never comes back by itself
    res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.tasks:HangTask", "--stall-timeout", "1",
                    "--steal-interval", "0.2", env=env)
    assert res.code == 0, res.stderr
    assert "restarted: no progress for 1 s on f00.fa" in res.stdout, res.stdout
    rows = res.manifest()
    assert_each_unit_once(rows, ALL6)
    assert {r["file"]: r for r in rows}["f00.fa"]["attempt"] == 2
    assert sum(d["restarts"] for d in res.summary()["devices"]) == 1
