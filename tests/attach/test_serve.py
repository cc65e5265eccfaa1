"""``lbtui serve``: the command each tab runs, the warning off localhost, and a real server answering."""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from lbtui import cli, serve_cmd

from .conftest import wait_until

REPO = Path(__file__).resolve().parents[2]


class RecordingServer:
    """Stands in for textual-serve's web server: records how it was set up, serves nothing."""

    made: list[dict] = []

    def __init__(self, command: str, **kwargs) -> None:
        RecordingServer.made.append({"command": command, **kwargs})

    def serve(self) -> None:
        pass


@pytest.fixture
def recording(monkeypatch):
    import textual_serve.server

    RecordingServer.made = []
    monkeypatch.setattr(textual_serve.server, "Server", RecordingServer)
    return RecordingServer.made


def test_each_tab_runs_this_checkouts_lbtui_attach(tmp_path) -> None:
    argv = shlex.split(serve_cmd.attach_command(tmp_path / "my run", read_only=True))
    assert argv[:2] == ["env", f"PYTHONPATH={REPO}"]
    assert argv[2:] == [sys.executable, "-m", "lbtui.cli", "attach", str(tmp_path / "my run"), "--read-only"]


def test_localhost_by_default_without_a_warning(served, recording, capsys) -> None:
    s = served()
    assert cli.main(["serve", str(s.out)]) == 0
    assert recording[0]["host"] == "127.0.0.1" and recording[0]["port"] == 8000
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("read_only", [False, True])
def test_another_address_warns_who_can_get_in(served, recording, capsys, read_only) -> None:
    s = served()
    extra = ["--read-only"] if read_only else []
    assert cli.main(["serve", str(s.out), "--host", "0.0.0.0", "--port", "8123", *extra]) == 0
    err = capsys.readouterr().err
    assert err.startswith("lbtui: warning: serving on 0.0.0.0:8123: anyone who can reach this port can ")
    assert ("steer" in err) != read_only and err.count("\n") == 1
    assert recording[0]["command"].endswith("--read-only") == read_only
    assert "0.0.0.0" not in recording[0]["public_url"]  # the page must connect back to a real name


def test_nothing_to_serve_is_one_line(tmp_path, recording, capsys) -> None:
    assert cli.main(["serve", str(tmp_path / "nope"), "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err == f"lbtui: error: {tmp_path / 'nope'}: no such folder\n"
    assert recording == []
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", str(tmp_path), "--port", "99999"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("lbtui serve: error: argument --port: expected a TCP port")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_real_server_serves_the_page(served) -> None:
    s = served()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lbtui.cli", "serve", str(s.out), "--port", str(port)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def page() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    return reply.read().decode()
            except OSError:
                return None

        html = wait_until(page, "the page", timeout=60)
        assert f"ws://127.0.0.1:{port}/ws" in html and "textual" in html.lower()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
