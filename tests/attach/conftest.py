"""Fixtures: a run folder served by a real ChannelServer over a fake coordinator,
and helpers to wait for conditions (never fixed sleeps)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.app import fake as f
from virnucpro_bridge.control.channel import ChannelServer
from virnucpro_bridge.control.endpoint import authenticate
from virnucpro_bridge.control.wire import frame, read_frame
from virnucpro_bridge.runfiles.folder_format import FORMAT

os.environ["TZ"] = "UTC"  # the log shows local time of day
time.tzset()


def write_run_json(out: Path, *, pid: int, control: dict | None, started: float | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "run_id": "test-run", "main_pid": pid, "start_epoch": started or time.time(),
            "argv": ["lbtui", "run"], "task": "sim", "inputs": ["inputs/"], "out": str(out),
            "devices": [], "control": control}
    (out / "run.json").write_text(json.dumps(data))


class Served:
    """A fake coordinator behind a live channel in ``out``, as a run would serve it."""

    def __init__(self, out: Path, snap=None) -> None:
        self.out = out
        self.fake = f.FakeCoordinator(snap or f.four_gpus())
        out.mkdir(parents=True, exist_ok=True)
        self.server = ChannelServer(out, self.fake, run_id="test-run")
        control = self.server.start()
        assert control is not None, self.server.problem
        write_run_json(out, pid=os.getpid(), control=control)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def served(tmp_path: Path):
    servers: list[Served] = []

    def serve(snap=None, out: Path | None = None) -> Served:
        s = Served(out or tmp_path / "out", snap)
        servers.append(s)
        return s

    yield serve
    for s in servers:
        s.close()


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    """Poll ``condition`` until it holds; the timeout only ends a broken test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def app_wait(pilot, condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def toasts(app) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def authed_socket(out: Path) -> socket.socket:
    """A connection to the run in ``out`` past the key handshake, before hello: raw frames from here."""
    control = json.loads((out / "run.json").read_text())["control"]
    key = Path(control["key"]).read_bytes()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(control["socket"])
    authenticate(sock, key, server=False)
    return sock


def ask(sock: socket.socket, body: bytes) -> dict:
    """Send one raw frame; the reply."""
    sock.sendall(frame(body))
    return json.loads(read_frame(sock, 1 << 30, 0))
