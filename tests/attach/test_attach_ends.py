"""``lbtui attach`` in a child process ends, exit 0, when its pipes close or on
SIGTERM/SIGHUP, in every state of its channel client: connecting, waiting for a
reply, the run gone. Each test waits for the state first, then ends it.

The 2-second promise is measured by benchmarks/bench_channel.py (end latency).
Here ENDS_WITHIN is generous for a loaded machine, yet below what an attach
without its lifeline takes even when it does end (a reply it waits for times
out after REPLY_TIMEOUT_S, 30 s); most states never ended at all."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.app import fake as f

from .conftest import wait_until, write_run_json

REPO = Path(__file__).resolve().parents[2]
WEB = {"TEXTUAL_DRIVER": "lbtui.web.driver:AttachWebDriver", "COLUMNS": "120", "ROWS": "40"}
ENDS_WITHIN = 15  # see the module docstring


class Attach:
    """``lbtui attach OUT`` as ``lbtui serve`` runs it (textual's web protocol on pipes),
    or with plain pipes (``web=False``: the headless lines); its output is read as it comes."""

    def __init__(self, out: Path, *, web: bool = True) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **(WEB if web else {})}
        if not web:
            env.pop("TEXTUAL_DRIVER", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "lbtui.cli", "attach", str(out)], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.output = b""
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        while not self._stop.is_set():
            if select.select([fd], [], [], 0.05)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                self.output += chunk

    def shows(self, text: bytes) -> bool:
        return text in self.output

    def close_pipes(self, stdin: bool = True, stdout: bool = True) -> None:
        self._stop.set()
        self._reader.join()
        if stdin:
            self.proc.stdin.close()
        if stdout:
            self.proc.stdout.close()
            self.proc.stderr.close()

    def ends(self) -> int:
        try:
            return self.proc.wait(timeout=ENDS_WITHIN)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the attach did not end") from None


@pytest.fixture
def attaches():
    made: list[Attach] = []

    def start(out: Path, **kwargs) -> Attach:
        made.append(Attach(out, **kwargs))
        return made[-1]

    yield start
    for a in made:
        if a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()


class Stuck(f.FakeCoordinator):
    """A run that stops answering snapshots once ``hang`` is set (until ``release``)."""

    def __init__(self, snap) -> None:
        super().__init__(snap)
        self.hang, self.waiting, self.release = threading.Event(), threading.Event(), threading.Event()

    def snapshot(self):
        if self.hang.is_set():
            self.waiting.set()
            self.release.wait()
        return super().snapshot()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["both", "stdin", "stdout"])
def test_an_attach_whose_pipes_close_ends(served, attaches, which) -> None:
    s = served()
    a = attaches(s.out)
    wait_until(lambda: a.shows(b"GPU0"), "the dashboard drawn", timeout=60)
    a.close_pipes(stdin=which != "stdout", stdout=which != "stdin")
    assert a.ends() == 0
    wait_until(lambda: s.server.clients == 0, "its channel connection closed")


@pytest.mark.slow
def test_a_headless_attach_whose_reader_goes_away_ends(served, attaches) -> None:
    s = served()
    a = attaches(s.out, web=False)
    wait_until(lambda: a.shows(b"GPU0"), "the first lines", timeout=60)
    a.close_pipes(stdin=False)
    assert a.ends() == 0


@pytest.mark.slow
@pytest.mark.parametrize("web", [True, False], ids=["dashboard", "headless"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_an_attach_waiting_for_a_reply(tmp_path, attaches, web, sig) -> None:
    from virnucpro_bridge.control.channel import ChannelServer

    out = tmp_path / "out"
    out.mkdir()
    stuck = Stuck(f.four_gpus())
    server = ChannelServer(out, stuck, run_id="test-run")
    write_run_json(out, pid=os.getpid(), control=server.start())
    try:
        a = attaches(out, web=web)
        wait_until(lambda: a.shows(b"GPU0"), "the dashboard drawn", timeout=60)
        stuck.hang.set()
        wait_until(stuck.waiting.is_set, "the attach waiting on a snapshot that does not come", timeout=60)
        a.proc.send_signal(sig)
        assert a.ends() == 0
    finally:
        stuck.release.set()
        server.close()


@pytest.mark.slow
def test_sigterm_ends_an_attach_still_connecting(tmp_path, attaches) -> None:
    out = tmp_path / "out"
    (out / ".lbtui").mkdir(parents=True, mode=0o700)
    (out / ".lbtui" / "key").write_bytes(b"k" * 32)
    (out / ".lbtui" / "key").chmod(0o600)  # the modes a run makes: attach trusts no others
    address = out / ".lbtui" / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:  # a run that never answers
        listener.bind(str(address))
        address.chmod(0o600)
        listener.listen(4)
        write_run_json(out, pid=os.getpid(), control={"socket": str(address), "key": str(out / ".lbtui" / "key")})
        a = attaches(out)
        listener.settimeout(60)
        held, _ = listener.accept()  # it is connecting: in the key handshake, waiting for us
        with held:
            a.proc.send_signal(signal.SIGTERM)
            assert a.ends() == 0


@pytest.mark.slow
def test_an_attach_whose_run_is_gone_still_ends_on_sigterm_and_closed_pipes(served, attaches) -> None:
    s = served()
    a = attaches(s.out)
    b = attaches(s.out)
    wait_until(lambda: a.shows(b"GPU0") and b.shows(b"GPU0"), "both dashboards drawn", timeout=60)
    s.close()  # the run's channel is gone (its process no longer answers)
    wait_until(lambda: a.shows(b"Cannot read") and b.shows(b"Cannot read"), "both saying so", timeout=60)
    a.proc.send_signal(signal.SIGTERM)
    b.close_pipes()
    assert a.ends() == 0 and b.ends() == 0


def test_the_attach_help_says_how_it_ends(capsys) -> None:
    from lbtui import cli

    with pytest.raises(SystemExit):
        cli.main(["attach", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "within 2 s of SIGTERM or SIGHUP or of its terminal or pipes closing" in text
