"""The channel without a screen: wire format, files and modes, requests, versions, refusals."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lbtui import cli
from lbtui.finished import FinishedRun
from lbtui.remote import ReadOnlyCommands, RemoteRun, open_run
from tests.app import fake as f
from virnucpro_bridge.control import CommandError, channel
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.control.wire import from_plain, to_plain

from .conftest import write_run_json


def test_snapshot_survives_the_wire_field_by_field() -> None:
    snap = replace(f.four_gpus(), summary={"makespan_s": 1.5, "devices": [{"index": 0}]}, notices=("demo",))
    assert from_plain(S.RunSnapshot, to_plain(snap)) == snap
    detail = f.detail_for(snap.devices[0])
    assert from_plain(S.DeviceDetail, to_plain(detail)) == detail


def test_unknown_fields_are_ignored_and_missing_ones_defaulted() -> None:
    plain = to_plain(f.four_gpus())
    plain["splits_total"] = 7  # a field from a newer engine
    plain["devices"][0]["splitting"] = True
    del plain["notices"]  # a field an older engine did not have (has a default)
    del plain["devices"][1]["stolen_out"]  # ... and one without a default
    snap = from_plain(S.RunSnapshot, plain)
    assert snap.notices == () and snap.devices[1].stolen_out == 0
    assert snap.devices[0] == f.four_gpus().devices[0]
    assert isinstance(snap.devices, tuple) and isinstance(snap.events[0].steal, S.StealEvent)


def test_socket_key_and_folder_are_private_to_the_user(served) -> None:
    s = served()
    folder = s.out / ".lbtui"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    sock = Path(s.server.address)
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    key = folder / "key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    s.close()
    assert not sock.exists() and not key.exists()


def test_a_long_out_path_puts_the_socket_in_the_runtime_folder(tmp_path, monkeypatch, served) -> None:
    # A short runtime folder of its own: tmp_path itself may be long (parallel test workers).
    runtime = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    runtime.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    out = tmp_path / ("x" * 60) / ("y" * 60)
    s = served(out=out)
    assert Path(s.server.address).parent == runtime / "lbtui"
    assert stat.S_IMODE((runtime / "lbtui").stat().st_mode) == 0o700
    remote = open_run(str(out))
    assert isinstance(remote, RemoteRun) and len(remote.snapshot().devices) == 4
    remote.close()
    s.server.close()
    shutil.rmtree(runtime, ignore_errors=True)


def test_commands_reach_the_coordinator_and_errors_come_back(served) -> None:
    s = served()
    remote = open_run(str(s.out))
    assert remote.pause(1) == "GPU1 paused"
    assert remote.snapshot().devices[1].state == S.PAUSED
    remote.set_stealing(False)
    remote.stop(now=True)
    assert s.fake.calls == [("pause", 1), ("set_stealing", False), ("stop", True)]
    s.fake.fail["drain"] = "GPU3 is dead"
    with pytest.raises(CommandError, match="GPU3 is dead"):
        remote.drain(3)
    with pytest.raises(IndexError):
        remote.device_detail(9)
    assert remote.device_detail(2).device.index == 2
    remote.close()


def test_several_clients_at_once(served) -> None:
    s = served()
    a, b = open_run(str(s.out)), open_run(str(s.out))
    a.pause(0)
    assert b.snapshot().devices[0].paused
    a.close()
    assert b.resume(0) == "GPU0 resumed"
    b.close()


def test_bad_requests_get_an_error_reply_not_a_crash(served) -> None:
    s = served()
    assert s.server.handle({"op": "explode"})["type"] == "ProtocolError"
    assert s.server.handle({"op": "pause"})["type"] == "ProtocolError"  # no index
    assert s.server.handle({"op": "pause", "index": "x"})["type"] == "ProtocolError"
    remote = open_run(str(s.out))
    assert remote.snapshot().devices  # the connection still works after those


def test_a_newer_run_is_refused_in_one_line(served, monkeypatch, capsys) -> None:
    s = served()
    monkeypatch.setattr(channel, "PROTOCOL", channel.PROTOCOL + 1)  # the server's side only
    assert cli.main(["attach", str(s.out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"lbtui: error: this run was started by a newer lbtui (protocol {channel.PROTOCOL}); "
                   "upgrade to attach\n")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dead_run_is_refused_in_one_line(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    (out / ".lbtui").mkdir(parents=True)
    pid = dead_pid()
    write_run_json(out, pid=pid, control={"socket": str(out / ".lbtui/control.sock"), "key": str(out / ".lbtui/key")})
    (out / ".lbtui/control.sock").write_text("")  # what a killed run leaves
    assert cli.main(["attach", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"lbtui: error: the run in {out} is not running (pid {pid} is gone); "
                   f"`lbtui report {out}` shows what it did\n")


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_bad_out_is_one_line(tmp_path, capsys, make) -> None:
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("")
    assert cli.main(["attach", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbtui: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_a_finished_run_is_shown_from_its_summary(tmp_path) -> None:
    out = tmp_path / "out"
    write_run_json(out, pid=dead_pid(), control=None, started=time.time() - 100)
    summary = {"makespan_s": 42.0, "files_total": 3, "files_done": 3, "files_failed": 0, "sequences": 300,
               "steals": 1, "exit_code": 0, "finished_epoch": time.time(), "task": "sim",
               "devices": [{"index": 0, "name": "sim0", "kind": "sim", "weight": 2.0, "files_done": 3,
                            "sequences": 300, "busy_s": 30.0, "final_state": "done"}]}
    (out / "summary.json").write_text(__import__("json").dumps(summary))
    (out / "manifest.jsonl").write_text('{"file": "a.fa", "shard": 0, "device_index": 0, "sequences": 100, '
                                        '"seconds": 10, "stolen": false, "attempt": 1, "run_id": "test-run", '
                                        '"started": 1, "ended": 11}\n')
    run = open_run(str(out))
    assert isinstance(run, FinishedRun)
    snap = run.snapshot()
    assert snap.finished and snap.exit_code == 0 and snap.units_done == 3 and snap.elapsed == 42.0
    assert [(d.label, d.state, d.units_done, d.throughput) for d in snap.devices] == [("SIM0", "done", 3, 10.0)]
    assert [u.unit for u in run.device_detail(0).units] == ["a.fa"]
    with pytest.raises(CommandError, match="finished"):
        run.pause(0)


def test_a_summary_from_an_earlier_session_does_not_count(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    pid = dead_pid()
    write_run_json(out, pid=pid, control=None, started=time.time())
    (out / "summary.json").write_text('{"exit_code": 0, "finished_epoch": %f}' % (time.time() - 3600))
    assert cli.main(["attach", str(out)]) == 2
    assert "is not running" in capsys.readouterr().err


def test_read_only_commands_refuse_everything() -> None:
    fake = f.FakeCoordinator(f.four_gpus())
    ro = ReadOnlyCommands(fake)
    for call in (lambda: ro.pause(0), lambda: ro.resume(0), lambda: ro.drain(0),
                 lambda: ro.set_stealing(False), lambda: ro.stop(now=True)):
        with pytest.raises(CommandError, match="^read-only: "):
            call()
    assert fake.calls == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
@pytest.mark.parametrize("weakened", [False, True])
def test_another_user_can_neither_connect_nor_read_the_key(tmp_path, served, weakened) -> None:
    tmp_path.chmod(0o755)  # only our own modes stand between the other user and the run
    s = served()
    if weakened:  # even with the folder opened up, the socket and the key stay 0600
        (s.out / ".lbtui").chmod(0o755)
    pid = os.fork()
    if pid == 0:  # the child: nobody (65534)
        code = 0
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                (s.out / ".lbtui" / "key").read_bytes()
                code |= 1
            except PermissionError:
                pass
            from multiprocessing.connection import Client

            try:
                Client(str(s.server.address), family="AF_UNIX", authkey=b"x" * 32).close()
                code |= 2
            except PermissionError:
                pass
        except BaseException:  # noqa: BLE001 - any surprise fails the test through the exit code
            code |= 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "1: key readable, 2: socket connectable, 4: error"
    assert s.fake.calls == []
