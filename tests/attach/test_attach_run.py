"""A real headless ``lbtui run`` in another process, steered through its channel."""

from __future__ import annotations

import json
import random
import socket
import struct
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from lbtui.finished import FinishedRun
from lbtui.remote import RemoteRun, open_run
from virnucpro_bridge.control import channel
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.control.wire import read_frame

from .conftest import ask, authed_socket, wait_until

REPO = Path(__file__).resolve().parents[2]
FILES = 16
SIM_RATE = "1500"  # 12 x 250 residues: 1-2 s a unit, about 10 s in all on sim:2,1


def make_inputs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i in range(FILES):
        rng = random.Random(i)
        with open(folder / f"f{i:02d}.fa", "w") as fh:
            for j in range(12):
                fh.write(f">f{i}_s{j}\n{''.join(rng.choice('ACGT') for _ in range(250))}\n")
    return folder


@pytest.fixture
def headless_run(tmp_path: Path):
    procs: list[subprocess.Popen] = []

    def start(out: Path) -> subprocess.Popen:
        inputs = make_inputs(tmp_path / "in")
        cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--gpus", "sim:2,1", "--sim-rate",
               SIM_RATE, "--no-steal", "--split-min", "1000", "--refresh", "0.5", "--out", str(out), str(inputs)]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            children = psutil.Process(proc.pid).children(recursive=True)
            proc.kill()
            for child in children:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
            proc.wait()


def control_ready(out: Path) -> bool:
    try:
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(run.get("control"))


@pytest.mark.slow
def test_attach_pause_resume_detach_and_the_run_finishes(tmp_path, headless_run) -> None:
    out = tmp_path / "out"
    proc = headless_run(out)
    wait_until(lambda: control_ready(out), "run.json with the control channel", timeout=60)
    remote = open_run(str(out))
    assert isinstance(remote, RemoteRun)
    wait_until(lambda: remote.snapshot().devices[0].units_done >= 1, "SIM0's first unit", timeout=60)
    assert remote.pause(0).startswith("SIM0 paused")
    wait_until(lambda: remote.snapshot().devices[0].state == S.PAUSED, "SIM0 paused", timeout=60)
    watcher = open_run(str(out))  # a second dashboard sees the same run
    view = watcher.snapshot().devices[0]
    assert view.paused and view.current_unit is None and view.queue_depth > 0  # no stealing: it waits
    watcher.close()
    assert remote.resume(0) == "SIM0 resumed"
    wait_until(lambda: remote.snapshot().devices[0].state != S.PAUSED, "SIM0 working again", timeout=60)
    remote.close()  # detach: the run goes on by itself
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    keys = sorted((r["file"], r["shard"]) for r in rows)
    assert keys == [(f"f{i:02d}.fa", 0) for i in range(FILES)]  # every unit exactly once
    actions = [json.loads(line).get("action") for line in (out / "events.jsonl").read_text().splitlines()]
    assert "pause" in actions and "resume" in actions
    assert not (out / ".lbtui" / "control.sock").exists() and not (out / ".lbtui" / "key").exists()
    final = open_run(str(out))
    assert isinstance(final, FinishedRun) and final.snapshot().exit_code == 0


@pytest.mark.slow
def test_a_killed_run_is_reported_gone(tmp_path, headless_run) -> None:
    out = tmp_path / "out"
    proc = headless_run(out)
    wait_until(lambda: control_ready(out), "run.json with the control channel", timeout=60)
    remote = open_run(str(out))
    remote.snapshot()
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.kill()
    proc.wait()
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    with pytest.raises(Exception, match=f"pid {proc.pid}\\) is gone"):
        remote.snapshot()
    result = subprocess.run([sys.executable, "-m", "lbtui.cli", "attach", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == (f"lbtui: error: the run in {out} is not running (pid {proc.pid} is gone); "
                             f"`lbtui report {out}` shows what it did\n")


def fuzz_request(rng: random.Random) -> bytes:
    """A request that is wrong in one way or another, never a valid command (the run must finish)."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 2000))
    if kind == 1:
        return rng.randbytes(channel.MAX_REQUEST + rng.randrange(1, 100_000))  # oversized: read past
    if kind == 2:
        return json.dumps({"op": rng.choice(["explode", "", "HELLO", "snapshots", "kill"]),
                           "index": rng.randrange(-5, 5)}).encode()
    if kind == 3:
        op = rng.choice(["pause", "resume", "drain", "detail", "stealing", "stop"])
        wrong = rng.choice([{"index": "0"}, {"index": None}, {"index": [1]}, {"enabled": "no"},
                            {"now": 1}, {"index": 1.5}, {}])
        return json.dumps({"op": op, **wrong} if op != "stop" else {"op": op, "now": "soon"}).encode()
    if kind == 4:
        return json.dumps(rng.choice([[], 0, "snapshot", None, [{"op": "pause", "index": 0}]])).encode()
    return b"{" * rng.randrange(1, 50_000)


@pytest.mark.slow
def test_fuzzed_requests_leave_a_live_run_that_finishes_exactly_once(tmp_path, headless_run) -> None:
    out = tmp_path / "out"
    proc = headless_run(out)
    wait_until(lambda: control_ready(out), "run.json with the control channel", timeout=60)
    rng = random.Random(17)
    for _ in range(5):  # garbage in place of the key handshake
        control = json.loads((out / "run.json").read_text())["control"]
        with socket.socket(socket.AF_UNIX) as junk:
            junk.connect(control["socket"])
            junk.sendall(rng.randbytes(rng.randrange(1, 500)))
    sock = authed_socket(out)
    assert ask(sock, b'{"op": "detail", "index": 0}')["error"].endswith("say hello first")
    assert ask(sock, b'{"op": "hello"}')["ok"]
    for _ in range(200):
        body = fuzz_request(rng)
        reply = ask(sock, body)
        assert reply["ok"] is False and reply["type"] in ("ProtocolError", "IndexError"), (body[:80], reply)
    assert ask(sock, b'{"op": "snapshot"}')["ok"]  # the same connection still serves
    with authed_socket(out) as doomed:  # a length no sender writes: that connection alone ends
        doomed.sendall(struct.pack("!i", -1) + struct.pack("!Q", 1 << 62))
        assert json.loads(read_frame(doomed, 1 << 20, 0))["type"] == "ProtocolError"
    remote = open_run(str(out))
    assert isinstance(remote, RemoteRun) and remote.snapshot().units_total == FILES
    remote.close()
    sock.close()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted((r["file"], r["shard"]) for r in rows) == [(f"f{i:02d}.fa", 0) for i in range(FILES)]
    assert [json.loads(line).get("action") for line in (out / "events.jsonl").read_text().splitlines()
            if json.loads(line).get("action")] == []  # no command got through
