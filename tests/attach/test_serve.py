"""``lbtui serve``: what each tab runs, the warning off localhost, a page that loads nothing
from off the machine, and a real server whose tabs' attaches end with the tab, with a
silent browser, and with serve itself."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import psutil
import pytest

from lbtui import cli, serve_cmd
from lbtui.web.server import WebServer, textual_serve_static
from lbtui.web.session import attach_env

from .conftest import wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recording(monkeypatch):
    """WebServer.serve that records the server it was asked to run, and serves nothing."""
    made: list[WebServer] = []

    async def serve(self, ready=None) -> None:
        made.append(self)

    monkeypatch.setattr(WebServer, "serve", serve)
    return made


def test_each_tab_runs_this_checkouts_lbtui_attach_with_our_web_driver(tmp_path) -> None:
    argv = serve_cmd.attach_argv(tmp_path / "my run", read_only=True)
    assert argv == [sys.executable, "-m", "lbtui.cli", "attach", str(tmp_path / "my run"), "--read-only"]
    env = attach_env(serve_cmd.checkout_root())
    assert env["PYTHONPATH"].split(":")[0] == str(REPO)
    assert env["TEXTUAL_DRIVER"] == "lbtui.web.driver:AttachWebDriver"


def test_localhost_by_default_without_a_warning(served, recording, capsys) -> None:
    s = served()
    assert cli.main(["serve", str(s.out)]) == 0
    assert recording[0].host == "127.0.0.1" and recording[0].port == 8000 and recording[0].idle_timeout == 30
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("read_only", [False, True])
def test_another_address_warns_who_can_get_in(served, recording, capsys, read_only) -> None:
    s = served()
    extra = ["--read-only"] if read_only else []
    assert cli.main(["serve", str(s.out), "--host", "0.0.0.0", "--port", "8123", *extra]) == 0
    err = capsys.readouterr().err
    assert err.startswith("lbtui: warning: serving on 0.0.0.0:8123 over plain HTTP: whoever has the address "
                          "with its token can ")
    assert ("steer" in err) != read_only and err.count("\n") == 1
    assert (recording[0].attach_argv[-1] == "--read-only") == read_only
    assert "0.0.0.0" not in recording[0].public_url  # the page must connect back to a real name


def test_nothing_to_serve_is_one_line(tmp_path, recording, capsys) -> None:
    assert cli.main(["serve", str(tmp_path / "nope"), "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err == f"lbtui: error: {tmp_path / 'nope'}: no such folder\n"
    assert recording == []
    for bad in (["--port", "99999"], ["--idle-timeout", "0"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["serve", str(tmp_path), *bad])
        assert exit_.value.code == 2
        assert capsys.readouterr().err.startswith(f"lbtui serve: error: argument {bad[0]}: ")


def page_resources(html: str) -> list[str]:
    """Every address the page makes the browser load: src=, href=, url(...)."""
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'url\("?([^")]+)"?\)', html)


def test_the_page_loads_nothing_from_off_the_machine() -> None:
    from lbtui.web.door import Door

    server = WebServer([], {}, host="127.0.0.1", port=8765, title="lbtui · <run>",
                       public_url="http://127.0.0.1:8765", door=Door("t" * 32, port=8765, hosts=["127.0.0.1"]))
    html = server.page()
    resources = page_resources(html)
    assert len(resources) >= 4  # stylesheet, two fonts, the script
    assert all(r.startswith("http://127.0.0.1:8765/static/") for r in resources), resources
    assert 'data-session-websocket-url="ws://127.0.0.1:8765/ws"' in html
    assert "&lt;run&gt;" in html and "<run>" not in html
    static = textual_serve_static()
    for r in resources:
        assert (static / r.removeprefix("http://127.0.0.1:8765/static/")).is_file(), r
    css = (static / "css" / "xterm.css").read_text()
    assert "@import" not in css and "url(http" not in css


# -- a real server -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    def __init__(self, out: Path, *extra: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "lbtui.cli", "serve", str(out), "--port",
                                      str(self.port), *extra], cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        wait_until(self.up, "the server up", timeout=60)
        self.printed = self.proc.stdout.readline()  # "lbtui serve: the run in OUT on http://...?token=T ..."
        token = re.search(r"/\?token=([\w.~-]+) ", self.printed)
        self.token = token.group(1) if token else None  # None: it printed none (a bug the tests then show)

    def up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def attaches(self) -> list[psutil.Process]:
        """The lbtui attach processes it started, now."""
        kids = psutil.Process(self.proc.pid).children(recursive=True)
        return [k for k in kids if _is_attach(k)]

    def url(self, path: str = "/", token: bool = False) -> str:
        """The address of ``path``; with ``token``, with the token (as serve prints it) added."""
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}" + (f"{sep}token={self.token}" if token else "")

    def opener(self) -> urllib.request.OpenerDirector:
        """A browser's memory, as far as serve cares: cookies kept, redirects followed."""
        return urllib.request.build_opener(urllib.request.HTTPCookieProcessor())


def _is_attach(p: psutil.Process) -> bool:
    try:
        return "attach" in p.cmdline() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(procs: list[psutil.Process]) -> bool:
    return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs if _alive(p))


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running()
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def serve(served):
    started: list[Serve] = []

    def start(*extra: str) -> Serve:
        s = served()
        started.append(Serve(s.out, *extra))
        return started[-1]

    yield start
    for s in started:
        leftovers = s.attaches() if s.proc.poll() is None else []
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        for p in leftovers:
            p.kill()


async def open_tab(session: aiohttp.ClientSession, srv: Serve, **kwargs) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(srv.url("/ws?width=100&height=30", token=True), **kwargs)
    await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
    return ws


async def until(condition, what: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.slow
def test_a_real_server_serves_the_page_and_everything_it_loads(serve) -> None:
    srv = serve()
    browser = srv.opener()
    with browser.open(srv.url(token=True), timeout=10) as reply:  # sets the cookie, then the page
        html = reply.read().decode()
    assert f"ws://127.0.0.1:{srv.port}/ws" in html
    for resource in page_resources(html):
        with browser.open(resource, timeout=10) as reply:
            assert reply.status == 200 and reply.read(), resource


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
async def test_a_signal_to_serve_ends_every_tabs_attach(serve, sig) -> None:
    srv = serve()
    async with aiohttp.ClientSession() as session:
        tabs = [await open_tab(session, srv) for _ in range(2)]
        await until(lambda: len(srv.attaches()) == 2, "two attaches, one per tab")
        before = srv.attaches()  # the children, listed before ...
        srv.proc.send_signal(sig)
        assert await asyncio.to_thread(srv.proc.wait, 60) == 0
        assert gone(before), [p.pid for p in before if _alive(p)]  # ... and after: none left
        for ws in tabs:
            await ws.close()
    err = srv.proc.stderr.read()
    assert f"{sig.name}: stopped (2 tabs ended)" in err, err


@pytest.mark.slow
async def test_a_closed_tab_ends_its_attach_and_not_the_others(serve) -> None:
    srv = serve()
    async with aiohttp.ClientSession() as session:
        first, second = await open_tab(session, srv), await open_tab(session, srv)
        await until(lambda: len(srv.attaches()) == 2, "two attaches")
        await first.close()
        await until(lambda: len(srv.attaches()) == 1, "the closed tab's attach gone")
        await second.close()
        await until(lambda: srv.attaches() == [], "no attach left")
    assert srv.proc.poll() is None  # serve itself goes on


@pytest.mark.slow
async def test_a_browser_gone_silent_has_its_attach_ended(serve) -> None:
    srv = serve("--idle-timeout", "1")
    async with aiohttp.ClientSession() as session:
        # a browser that vanished without closing: the connection stays open, nothing comes
        # back, not even a pong to the server's pings (autoping off) and nothing is read
        silent = await open_tab(session, srv, autoping=False)
        await until(lambda: len(srv.attaches()) == 1, "its attach")
        attach = srv.attaches()
        await until(lambda: gone(attach), "the silent tab's attach ended")
        await silent.close()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(60)
    assert "went silent" in srv.proc.stderr.read()


def test_a_port_in_use_is_one_line(served, capsys) -> None:
    s = served()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(s.out), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lbtui: error: cannot serve on 127.0.0.1:{port}: ") and err.count("\n") == 1
