"""``lbtui serve`` serves its owner only (jupyter_server's door): a token in the printed
address, required on every request and websocket; other host names (DNS rebinding) and
other sites' pages refused; at most --max-tabs tabs; what a tab sends checked and
bounded; and a read-only serve whose tabs cannot make the run write or change anything.

Most tests run the real ``lbtui serve`` over a fake run's channel; the ones about what
a tab sends serve a stand-in attach in-process (one that never reads its input).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import psutil
import pytest
from aiohttp import web

from lbtui.web.server import WebServer
from tests.attach.test_serve import REPO, Serve, free_port, until

NOBODY = 65534
TOKEN = re.compile(r"^lbtui serve: the run in .+ on http://127\.0\.0\.1:\d+/\?token=([A-Za-z0-9_-]{43}) "
                   r"\(Ctrl\+C stops\)$")


@pytest.fixture
def serve(served):
    started: list[Serve] = []

    def start(*extra: str, snap=None) -> Serve:
        s = served(snap)
        srv = Serve(s.out, *extra)
        srv.run = s
        started.append(srv)
        return srv

    yield start
    for srv in started:
        leftovers = srv.attaches() if srv.proc.poll() is None else []
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        for p in leftovers:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, str]:
    """One plain request (no redirects followed, no cookies kept): status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read().decode("utf-8", "replace")
    finally:
        conn.close()


def upgrade(port: int, path: str = "/ws?width=80&height=24", headers: dict | None = None) -> int:
    """The status a websocket handshake gets (101: in), by hand, as any program can send it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                           "Sec-WebSocket-Version": "13",
                                           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **(headers or {})})
        return conn.getresponse().status
    finally:
        conn.close()


# -- the token ----------------------------------------------------------------------------

@pytest.mark.slow
def test_serve_prints_a_tokened_address_and_only_it_gets_in(serve) -> None:
    srv = serve()
    printed = TOKEN.match(srv.printed.strip())
    assert printed, srv.printed
    token = printed.group(1)
    for path in ("/", "/?token=", "/?token=" + token[:-1] + ("A" if token[-1] != "A" else "B"),
                 "/static/js/textual.js", "/ws?width=80&height=24"):
        status, _, body = get(srv.port, path)
        assert status == 403, (path, status)
        assert "needs its token" in body and token not in body
    assert upgrade(srv.port) == 403
    assert srv.attaches() == []  # no attach for a stranger

    status, headers, _ = get(srv.port, f"/?token={token}&fontsize=20")
    assert status == 302 and headers["Location"] == "/?fontsize=20"  # the token leaves the address bar
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
    jar = cookie.split(";")[0]
    status, _, page = get(srv.port, "/?fontsize=20", {"Cookie": jar})
    assert status == 200 and 'data-font-size="20"' in page
    assert get(srv.port, "/static/js/textual.js", {"Cookie": jar})[0] == 200
    assert get(srv.port, "/", {"Authorization": f"token {token}"})[0] == 200  # for scripts
    assert get(srv.port, "/", {"Cookie": jar.split("=")[0] + "=" + "0" * 64})[0] == 403


@pytest.mark.slow
def test_two_serves_make_different_tokens(serve) -> None:
    a, b = serve(), serve()
    assert a.token != b.token and len(a.token) >= 43
    assert get(a.port, "/", {"Authorization": f"token {b.token}"})[0] == 403


def test_a_token_file_must_be_private_and_a_token(tmp_path) -> None:
    from lbtui.web.door import TokenFileError, read_token_file

    path = tmp_path / "token"
    path.write_text("s3cret-token-of-my-own\n")
    path.chmod(0o644)
    with pytest.raises(TokenFileError, match=r"others may read it \(mode 0644\)"):
        read_token_file(path)
    path.chmod(0o600)
    assert read_token_file(path) == "s3cret-token-of-my-own"
    for bad in ("short", "has spaces in it here", "<script>alert(1)</script>xx"):
        path.write_text(bad)
        with pytest.raises(TokenFileError, match="expected one line"):
            read_token_file(path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(TokenFileError, match="not a regular file"):
        read_token_file(fifo)  # and does not hang
    with pytest.raises(TokenFileError, match="not a regular file"):
        read_token_file("/dev/zero")


@pytest.mark.slow
def test_serve_with_a_token_file_uses_it_and_does_not_print_it(served, tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text("my-own-token-0123456789\n")
    path.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lbtui.cli", "serve", str(served().out), "--port", str(port),
                             "--token-file", str(path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()  # printed once it listens
        assert f"http://127.0.0.1:{port}/  (its token is in {path})" in line and "my-own" not in line
        assert get(port, "/", {"Authorization": "token my-own-token-0123456789"})[0] == 200
        assert get(port, "/")[0] == 403
    finally:
        proc.kill()
        proc.wait()
    path.chmod(0o640)
    refused = subprocess.run([sys.executable, "-m", "lbtui.cli", "serve", str(served().out), "--port", str(port),
                              "--token-file", str(path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr == (
        f"lbtui: error: --token-file {path}: others may read it (mode 0640); chmod 600 it\n")


# -- host and origin ----------------------------------------------------------------------

@pytest.mark.slow
def test_requests_for_other_host_names_are_refused(serve) -> None:
    srv = serve("--allow-host", "dash.example.org")
    auth = {"Authorization": f"token {srv.token}"}
    for host in ("evil.example", f"evil.example:{srv.port}", "127.0.0.1.evil.example", "localhost.evil",
                 "", "[::2]"):
        status, _, body = get(srv.port, "/", {**auth, "Host": host})
        assert status == 403, host
        assert "does not answer to the host name" in body
    for host in (f"127.0.0.1:{srv.port}", f"localhost:{srv.port}", "LOCALHOST.", f"[::1]:{srv.port}",
                 "127.0.0.2", "dash.example.org", "Dash.Example.Org:443"):
        assert get(srv.port, "/", {**auth, "Host": host})[0] == 200, host
    assert upgrade(srv.port, headers={**auth, "Host": "evil.example"}) == 403


@pytest.mark.slow
def test_websockets_from_another_sites_page_are_refused(serve) -> None:
    srv = serve()
    auth = {"Authorization": f"token {srv.token}"}
    here = f"127.0.0.1:{srv.port}"
    for origin in ("http://evil.example", f"http://evil.example:{srv.port}", "null", "file://",
                   f"http://localhost:{srv.port}", f"http://127.0.0.1:{srv.port + 1}", f"https://{here}:x"):
        assert upgrade(srv.port, headers={**auth, "Host": here, "Origin": origin}) == 403, origin
    assert srv.attaches() == []
    assert upgrade(srv.port, headers={**auth, "Host": here, "Origin": f"http://{here}"}) == 101


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_user_cannot_steer_the_run_through_serve(serve) -> None:
    """The issue's attack: nobody, refused by the socket and the key, tried the web port."""
    srv = serve()
    pid = os.fork()
    if pid == 0:  # the child: nobody (65534), who knows the port and nothing else
        code = 0
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code |= 1 if get(srv.port, "/")[0] != 403 else 0
            code |= 2 if upgrade(srv.port) != 403 else 0
            code |= 4 if upgrade(srv.port, headers={"Origin": "http://evil.example"}) != 403 else 0
        except BaseException:  # noqa: BLE001 - any surprise fails the test through the exit code
            code |= 8
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "1: page served, 2: websocket opened, 4: foreign origin in, 8: error"
    assert srv.attaches() == [] and srv.run.fake.calls == []


# -- tabs -----------------------------------------------------------------------------------

async def open_tab(session: aiohttp.ClientSession, srv: Serve) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(srv.url("/ws?width=100&height=30", token=True))
    await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
    return ws


@pytest.mark.slow
async def test_at_most_max_tabs_and_a_clear_page_when_full(serve) -> None:
    srv = serve("--max-tabs", "2")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # cookies for an IP
        tabs = [await open_tab(session, srv), await open_tab(session, srv)]
        await until(lambda: len(srv.attaches()) == 2, "two attaches")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(srv.url("/ws", token=True))
        assert refused.value.status == 503
        async with session.get(srv.url("/", token=True)) as page:
            assert page.status == 503
            assert "open in 2 tabs already, as many as it serves (--max-tabs)" in await page.text()
        assert len(srv.attaches()) == 2
        await tabs[0].close()
        await until(lambda: get(srv.port, "/", {"Authorization": f"token {srv.token}"})[0] == 200, "a tab free")
        tabs[0] = await open_tab(session, srv)
        await until(lambda: len(srv.attaches()) == 2, "a tab again")
        for ws in tabs:
            await ws.close()


async def screen_until(ws: aiohttp.ClientWebSocketResponse, text: bytes, seen: bytearray, timeout: float = 60) -> None:
    """Read the tab's screen updates until ``text`` has been drawn."""
    try:
        async with asyncio.timeout(timeout):  # for the whole wait: each ping from serve restarts receive's own
            while text not in seen:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.BINARY:
                    seen += message.data
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise AssertionError(f"the tab closed before showing {text!r}")
    except TimeoutError:
        raise AssertionError(f"{text!r} not drawn in {timeout:g} s; the last of the screen: "
                             f"{bytes(seen[-2000:])!r}") from None


@pytest.mark.slow
async def test_a_read_only_serve_tab_cannot_write_or_steer(serve) -> None:
    srv = serve("--read-only")
    out = Path(srv.run.out)
    async with aiohttp.ClientSession() as session:
        ws = await open_tab(session, srv)
        seen = bytearray()
        await screen_until(ws, b"GPU0", seen)
        for keys in ("r", "y"):  # the report, and yes to it (the issue: it was written)
            await ws.send_str(json.dumps(["stdin", keys]))
        await screen_until(ws, b"writing the report: this dashboard writes", seen)  # the toast that says no
        for keys in ("s", "p", "d", "y", "q", "n"):
            await ws.send_str(json.dumps(["stdin", keys]))
        await ws.send_str(json.dumps(["stdin", "\x1b"]))
        await ws.send_str(json.dumps(["stdin", "q"]))
        await ws.send_str(json.dumps(["stdin", "d"]))  # detach: the attach ends once it read all the above
        await until(lambda: srv.attaches() == [], "the tab's attach ended")
        await ws.close()
    assert srv.run.fake.calls == []
    assert not (out / "report.html").exists() and not list(out.glob("*.html"))


# -- what a tab sends ---------------------------------------------------------------------

def test_sizes_from_the_browser_are_clamped() -> None:
    from lbtui.web.session import clamp

    assert clamp(10**9, 80, 10, 1000) == 1000 and clamp(-5, 24, 5, 500) == 5
    for junk in (None, "120", True, float("nan"), [1], {"a": 1}):
        assert clamp(junk, 80, 10, 1000) == 80
    assert clamp(float("inf"), 80, 10, 1000) == 1000 and clamp(132.7, 80, 10, 1000) == 132


def test_host_headers_are_read_as_browsers_send_them() -> None:
    from lbtui.web.door import host_of

    assert host_of("LocalHost.:8000") == "localhost" and host_of("[::1]:80") == "::1"
    assert host_of(None) is None and host_of("") is None and host_of("[bad") is None


SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]  # an attach that never reads its input


@pytest.fixture
async def sleeper_server():
    """A WebServer in this process whose tabs run SLEEPER; yields (server, base URL, token)."""
    from lbtui.web.door import Door

    port = free_port()
    token = "t0ken-" + "x" * 30
    server = WebServer(SLEEPER, dict(os.environ), host="127.0.0.1", port=port, title="t",
                       public_url=f"http://127.0.0.1:{port}", door=Door(token, port=port, hosts=["127.0.0.1"]),
                       idle_timeout=60, log=lambda line: None)
    runner = web.AppRunner(server.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server, f"http://127.0.0.1:{port}", token
    finally:
        await server.end_all("test over")
        await runner.cleanup()


async def test_input_an_attach_does_not_read_ends_that_tab_not_serve(sleeper_server) -> None:
    server, base, token = sleeper_server
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{base}/ws?token={token}")
        await until(lambda: any(s.pid for s in server.sessions), "the tab's process")
        paste = json.dumps(["stdin", "x" * 60_000])
        for _ in range(200):  # 12 MB of keys for a process that reads none
            try:
                await ws.send_str(paste)
            except ConnectionError:  # serve ended the tab under us
                break
        await until(lambda: not server.sessions, "the tab ended")
        assert (await asyncio.wait_for(ws.receive(), 30)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with session.get(f"{base}/", headers={"Authorization": f"token {token}"}) as page:
            assert page.status == 200  # serve goes on


async def test_a_message_serve_cannot_parse_or_too_big_ends_nothing_else(sleeper_server) -> None:
    server, base, token = sleeper_server
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{base}/ws?token={token}")
        await ws.send_str("[" * 30_000 + "]" * 30_000)  # deep enough to exhaust a recursive parser
        await ws.send_str(json.dumps(["ping", "x" * 10_000]))  # no echo of a big payload
        await ws.send_str(json.dumps(["resize", {"width": 10**12, "height": "x"}]))
        await ws.send_str('["stdin", "\\ud800"]')  # a lone surrogate: no UTF-8 for it
        await ws.send_str(json.dumps([["stdin"], {"a": 1}]))
        await ws.send_str(json.dumps(["ping", "still-there"]))
        reply = await asyncio.wait_for(ws.receive(), 30)
        assert reply.type == aiohttp.WSMsgType.TEXT and json.loads(reply.data) == ["pong", "still-there"]
        await ws.send_str(json.dumps(["stdin", "x" * 100_000]))  # over the 64 KiB a message may be
        closing = await asyncio.wait_for(ws.receive(), 30)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        await until(lambda: not server.sessions, "its tab ended")
        other = await session.ws_connect(f"{base}/ws?token={token}")
        await other.send_str(json.dumps(["ping", 1]))
        assert json.loads((await asyncio.wait_for(other.receive(), 30)).data) == ["pong", 1]
        await other.close()


def test_the_door_compares_in_constant_time_and_refuses_a_wrong_token_with_a_good_cookie() -> None:
    from unittest import mock

    from lbtui.web.door import Door

    door = Door("right-token-0123456789", port=1, hosts=["127.0.0.1"])

    class Request:
        def __init__(self, query=None, headers=None, cookies=None) -> None:
            self.query, self.headers, self.cookies = query or {}, headers or {}, cookies or {}

    with mock.patch("lbtui.web.door.hmac.compare_digest", wraps=__import__("hmac").compare_digest) as compare:
        assert door.authorized(Request(query={"token": "right-token-0123456789"}))
        assert not door.authorized(Request(query={"token": "wrong"}, cookies={door.cookie_name: door.cookie_value}))
        assert door.authorized(Request(cookies={door.cookie_name: door.cookie_value}))
        assert not door.authorized(Request(headers={"Authorization": "token nope"}))
    assert compare.call_count == 4

