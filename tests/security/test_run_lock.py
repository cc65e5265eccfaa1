"""One run per --out: a second ``lbtui run`` on a live folder is refused and touches nothing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from lbtui.remote import RemoteRun, open_run
from tests.helpers.wait import wait_for
from tests.integration.conftest import REPO, assert_each_unit_once, lbtui_args, make_inputs
from virnucpro_bridge.errors import UsageError

# The lock's own module is imported inside the tests that use it: the tests of what a
# user sees run (and fail) on a tree without it too.

FILES = 8


def control_ready(out: Path) -> dict | None:
    try:
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return run if run.get("control") else None


def identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


@pytest.mark.slow
def test_a_second_run_on_a_live_folder_is_refused_and_the_first_is_untouched(tmp_path, start_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", FILES, seqs=12)
    out = tmp_path / "out"
    first = start_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", "2000", "--no-steal", "--split-min", "100k",
                        out=out)
    run = wait_for(lambda: control_ready(out), what="the first run's run.json with its channel")
    before = (out / "run.json").read_bytes()
    sock, key = Path(run["control"]["socket"]), Path(run["control"]["key"])
    ids = identity(sock), identity(key)
    planted = [out / ".tmp-4242-planted", out / "units" / ".tmp-4242-planted"]  # as a live writer's temps
    for path in planted:
        path.parent.mkdir(exist_ok=True)
        path.write_text("in progress")

    second = subprocess.run(lbtui_args(inputs, out, "--gpus", "sim:1", "--sim-rate", "2000"), cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first run ended before the second was refused: the test proves nothing"
    assert second.returncode == 2
    lines = second.stderr.splitlines()
    assert len(lines) == 1, second.stderr
    assert f"pid {first.pid} on {socket.gethostname()}, started " in lines[0]
    assert lines[0].startswith(f"lbtui: error: --out {out} is in use by another lbtui run")
    assert (out / "run.json").read_bytes() == before
    assert (identity(sock), identity(key)) == ids
    assert all(path.exists() for path in planted)

    remote = open_run(str(out))  # the first run is still attachable and steerable
    assert isinstance(remote, RemoteRun)
    assert remote.snapshot().devices
    remote.close()
    assert first.wait(timeout=120) == 0, first.stderr.read()
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(FILES)})
    assert {r["run_id"] for r in rows} == {run["run_id"]}


@pytest.mark.slow
def test_the_lock_dies_with_its_run(tmp_path, start_lbtui) -> None:
    from virnucpro_bridge.runfiles.lock import holder

    inputs = make_inputs(tmp_path / "in", 4, seqs=12)
    out = tmp_path / "out"
    first = start_lbtui(inputs, "--gpus", "sim:1", "--sim-rate", "1000", out=out)
    wait_for(lambda: control_ready(out), what="the first run's run.json")
    assert holder(out) is not None and holder(out).pid == first.pid
    children = psutil.Process(first.pid).children(recursive=True)
    first.kill()
    first.wait()
    psutil.wait_procs(children, timeout=30)
    assert holder(out) is None  # no stale lock after a SIGKILL
    again = subprocess.run(lbtui_args(inputs, out, "--gpus", "sim:1", "--sim-rate", "100000"), cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def test_folder_lock_in_one_process(tmp_path) -> None:
    from virnucpro_bridge.runfiles.lock import FolderLock, holder

    out = tmp_path / "a" / "b"
    lock = FolderLock.acquire(out)
    assert out.is_dir() and lock.held
    who = holder(out)
    assert who is not None and who.pid == os.getpid() and who.host == socket.gethostname()
    with pytest.raises(UsageError, match=f"pid {os.getpid()} on "):
        FolderLock.acquire(out)
    lock.release()
    assert holder(out) is None
    FolderLock.acquire(out).release()


def test_a_run_that_never_started_leaves_nothing_behind(tmp_path) -> None:
    from virnucpro_bridge.runfiles.lock import FolderLock, lock_path

    FolderLock.acquire(tmp_path / "a" / "b").release(undo=True)
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    FolderLock.acquire(tmp_path / "kept").release(undo=True)
    assert [p.name for p in tmp_path.iterdir()] == ["kept"] and not any((tmp_path / "kept").iterdir())
    FolderLock.acquire(tmp_path / "kept").release()  # a finished run's folder: its lock file stays
    FolderLock.acquire(tmp_path / "kept").release(undo=True)  # and a run refused later leaves it
    assert lock_path(tmp_path / "kept").is_file()


def test_a_lock_dropped_with_its_object_is_given_back(tmp_path) -> None:
    from virnucpro_bridge.runfiles.lock import FolderLock

    FolderLock.acquire(tmp_path)  # not kept: collected at once
    FolderLock.acquire(tmp_path).release()


def test_a_planted_lock_file_is_refused(tmp_path) -> None:
    from virnucpro_bridge.runfiles.lock import FolderLock, lock_path

    (tmp_path / ".lbtui").mkdir(mode=0o700)
    lock_path(tmp_path).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="cannot create its lock file"):
        FolderLock.acquire(tmp_path)
    assert not (tmp_path / "elsewhere").exists()
    lock_path(tmp_path).unlink()
    os.mkfifo(lock_path(tmp_path))
    with pytest.raises(UsageError, match="not a regular file"):
        FolderLock.acquire(tmp_path)


def test_a_garbled_holder_is_shown_as_text(tmp_path) -> None:
    from virnucpro_bridge.runfiles.lock import FolderLock, holder, lock_path

    lock = FolderLock.acquire(tmp_path)
    lock_path(tmp_path).write_text(json.dumps({"host": "x\x1b[2J" + "y" * 500, "pid": "7", "started": 5}))
    who = holder(tmp_path)
    assert who is not None and who.pid == 0 and who.started == "?"
    assert who.host.isprintable() and len(who.host) == 100
    lock.release()


def test_run_prepare_refuses_a_locked_folder_before_reading_it(tmp_path) -> None:
    from virnucpro_bridge.options import RunOptions
    from virnucpro_bridge.runfiles.lock import FolderLock, holder
    from virnucpro_bridge.runner import Run

    make_inputs(tmp_path / "in", 1, seqs=2)
    out = tmp_path / "out"
    lock = FolderLock.acquire(out)
    with pytest.raises(UsageError, match="in use by another lbtui run"):
        Run(RunOptions(inputs=[str(tmp_path / "in")], gpus="sim:1", out=str(out))).prepare()
    assert lock.held and holder(out).pid == os.getpid()  # the refused run let go of nothing of ours
    lock.release()


def test_a_run_sweeps_only_temps_whose_writer_is_gone(tmp_path) -> None:
    import threading

    from virnucpro_bridge.runfiles.atomic import TMP_PREFIX, remove_stale_temps

    live = tmp_path / f"{TMP_PREFIX}{threading.get_native_id()}-report.html"  # as lbtui report writes it now
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = tmp_path / f"{TMP_PREFIX}{child.pid}-units.json"  # a killed writer's leftover
    for path in (live, dead):
        path.write_text("half")
    assert remove_stale_temps(tmp_path) == 1
    assert live.exists() and not dead.exists()


NOBODY = 65534


def _holder_as_nobody(out: Path) -> str:
    """``holder(out)`` as another user would get it (a forked child that drops to nobody)."""
    from virnucpro_bridge.runfiles.lock import holder

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        code = 1
        try:
            os.close(read)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, repr(holder(out)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        text = answer.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    return text


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to be another user")
def test_another_user_is_told_a_live_run_holds_the_folder() -> None:
    """Another user cannot open the lock (its folder is 0700): the main process run.json
    names, alive on this host, holds the folder (lbtui verify then refuses, exit 2); a
    dead one does not."""
    from virnucpro_bridge.runfiles.lock import FolderLock

    shared = Path(tempfile.mkdtemp(prefix="lbtui-shared-", dir="/tmp"))  # pytest's own is 0700
    shared.chmod(0o755)  # others may look in, as in a group's folder
    out = shared / "out"
    lock = FolderLock.acquire(out)
    try:
        run = {"main_pid": os.getpid(), "host": socket.gethostname(), "start_time": "2026-12-07T04:53:00+0000"}
        (out / "run.json").write_text(json.dumps(run))
        (out / "run.json").chmod(0o644)
        assert f"Holder(host='{socket.gethostname()}', pid={os.getpid()}," in _holder_as_nobody(out)
        dead = psutil.Popen(["true"])  # a pid that has ended
        dead.wait()
        (out / "run.json").write_text(json.dumps({**run, "main_pid": dead.pid}))
        assert _holder_as_nobody(out) == "None"
        (out / "run.json").write_text(json.dumps({**run, "host": "another-node"}))
        assert _holder_as_nobody(out) == "None"  # another host's process cannot be asked
    finally:
        lock.release()
        shutil.rmtree(shared)
