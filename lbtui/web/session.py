"""One browser tab: an ``lbtui attach`` process and the websocket it talks through.

    websocket ─["stdin", s] ["resize", {...}] ["focus"] ["blur"] ["ping", t]─▶ attach's stdin (packets)
    websocket ◀─ screen bytes, ["pong", t], ["open_url", {...}] ── attach's stdout (packets)

Packets are textual's web driver's: a type byte (``D`` data, ``M`` meta JSON), a
4-byte big-endian length, the payload; the attach first prints ``__GANGLION__``.

The session, not the browser, decides when the attach ends: the tab closes, the
browser sends nothing (not even a pong) for ``idle_timeout`` seconds, or serve
ends. Ending is SIGTERM, then SIGKILL after KILL_AFTER_S; the attach's output is
read to its end regardless, so it never blocks on a full pipe. Whatever a tab
sends is checked before it is passed on: only the page script's kinds of message,
sizes clamped, pings short, non-UTF-8 replaced; input an attach does not read
(STDIN_MAX_BUFFERED bytes waiting) ends that tab, never serve.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from asyncio.subprocess import PIPE, Process

from aiohttp import WSMsgType, web

GANGLION = b"__GANGLION__\n"  # textual's web driver's first line
PRELUDE_LINES = 50  # lines before it are start-up noise (warnings); more means it is no Textual app
KILL_AFTER_S = 3.0  # SIGTERM ends an attach within 2 s; this is the margin before SIGKILL
SEND_TIMEOUT_S = 10.0  # one screen update this slow to leave means the browser is not reading
STDERR_KEPT = 4096  # the tail of an attach's stderr, to say why it ended
STDIN_MAX_BUFFERED = 1 << 20  # keys and pastes waiting for an attach that does not read them: it is stuck
PING_MAX = 64  # the page's pings carry a timestamp; a longer payload is not from it
WIDTH = (80, 10, 1000)  # (default, least, most) columns of a tab's dashboard
HEIGHT = (24, 5, 500)  # (default, least, most) rows


class Session:
    """``start()``, then ``run()`` until the tab or the attach is gone; ``end()`` from anywhere."""

    def __init__(self, number: int, argv: list[str], env: dict[str, str], ws: web.WebSocketResponse,
                 *, idle_timeout: float, log=None) -> None:
        self.number = number
        self.argv = argv
        self.env = env
        self.ws = ws
        self.idle_timeout = idle_timeout
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.process: Process | None = None
        self.reason: str | None = None  # why it ended
        self.last_heard = time.monotonic()
        self.stderr_tail = b""
        self._ws_open = True
        self._ending: asyncio.Future | None = None  # an end() started from _send, kept from the collector

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self, width: int, height: int) -> None:
        env = {**self.env, "COLUMNS": str(width), "ROWS": str(height)}
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env, start_new_session=True)
        self.log(f"lbtui serve: tab {self.number} opened (attach pid {self.process.pid})")

    async def run(self) -> None:
        """Until the attach has exited (whatever ended it)."""
        assert self.process is not None
        tasks = [asyncio.create_task(coro) for coro in
                 (self._from_browser(), self._to_browser(), self._errors(), self._watch_idle())]
        try:
            code = await self.process.wait()
            await asyncio.wait(tasks[1:3], timeout=1.0)  # the last of its output
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_ws()
        why = self.reason or ("the dashboard quit" if code == 0 else f"the attach exited {code}")
        tail = self.stderr_tail.decode("utf-8", "replace").strip().splitlines()
        detail = f": {tail[-1]}" if code != 0 and tail else ""
        self.log(f"lbtui serve: tab {self.number} closed: {why}{detail}")

    async def end(self, reason: str) -> None:
        """Stop the attach (SIGTERM, then SIGKILL) and close the tab; idempotent."""
        if self.reason is None:
            self.reason = reason
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        await self._close_ws()
        for sig, wait in ((signal.SIGTERM, KILL_AFTER_S), (signal.SIGKILL, KILL_AFTER_S)):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
            try:
                await asyncio.wait_for(proc.wait(), wait)
                return
            except asyncio.TimeoutError:
                continue

    # -- the four directions ---------------------------------------------------------
    async def _from_browser(self) -> None:
        """Browser messages to the attach's stdin; any message (pongs too) proves the browser is there."""
        async for message in self.ws:
            self.last_heard = time.monotonic()
            if message.type == WSMsgType.PING:
                await self.ws.pong(message.data)
            elif message.type == WSMsgType.TEXT:
                await self._envelope(message.data)
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
        self._ws_open = False
        await self.end("the tab closed")

    async def _envelope(self, text: str) -> None:
        try:
            kind, *rest = json.loads(text)
        except (ValueError, TypeError, RecursionError):
            return  # not from textual's page script; nothing to pass on
        if kind == "stdin" and rest and isinstance(rest[0], str):
            self._write(b"D", rest[0].encode("utf-8", "replace"))
        elif kind == "resize" and rest and isinstance(rest[0], dict):
            width, height = clamp(rest[0].get("width"), *WIDTH), clamp(rest[0].get("height"), *HEIGHT)
            self._write(b"M", json.dumps({"type": "resize", "width": width, "height": height}).encode())
        elif kind in ("focus", "blur"):
            self._write(b"M", json.dumps({"type": kind}).encode())
        elif kind == "ping" and rest and isinstance(rest[0], (str, int, float)) and len(str(rest[0])) <= PING_MAX:
            await self._send(self.ws.send_str(json.dumps(["pong", rest[0]])))

    def _write(self, kind: bytes, payload: bytes) -> None:
        stdin = self.process.stdin if self.process else None
        if stdin is None or stdin.is_closing():
            return
        if stdin.transport.get_write_buffer_size() > STDIN_MAX_BUFFERED:
            if self._ending is None:
                self._ws_open = False
                self._ending = asyncio.ensure_future(self.end("its dashboard stopped reading input"))
            return
        stdin.write(kind + len(payload).to_bytes(4, "big") + payload)  # buffered: never waits on the attach

    async def _to_browser(self) -> None:
        """The attach's packets to the browser; read to the end even when the tab is gone."""
        assert self.process is not None and self.process.stdout is not None
        out = self.process.stdout
        try:
            for _ in range(PRELUDE_LINES):
                line = await out.readline()
                if not line or line == GANGLION:
                    break
            while True:
                head = await out.readexactly(5)
                payload = await out.readexactly(int.from_bytes(head[1:], "big"))
                if head[:1] == b"D":
                    await self._send(self.ws.send_bytes(payload))
                elif head[:1] == b"M":
                    await self._meta(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the attach closed its output: it is ending

    async def _meta(self, payload: bytes) -> None:
        try:
            meta = json.loads(payload)
        except ValueError:
            return
        if meta.get("type") == "exit":  # the dashboard quit (detached): the tab closes after it
            self.reason = self.reason or "the dashboard quit"
            await self._close_ws()
        elif meta.get("type") == "open_url":
            await self._send(self.ws.send_str(json.dumps(
                ["open_url", {"url": meta.get("url"), "new_tab": meta.get("new_tab", True)}])))

    async def _send(self, sending) -> None:
        """One message to the browser; a browser that does not take it in time is gone."""
        if not self._ws_open:
            sending.close()
            return
        try:
            await asyncio.wait_for(sending, SEND_TIMEOUT_S)
        except asyncio.TimeoutError:
            self._ws_open = False
            self._ending = asyncio.ensure_future(self.end(f"the browser stopped reading ({SEND_TIMEOUT_S:g} s)"))
        except (ConnectionError, RuntimeError):  # closing or closed under us
            self._ws_open = False

    async def _errors(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while chunk := await self.process.stderr.read(4096):
            self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_KEPT:]

    async def _watch_idle(self) -> None:
        """Ping the browser; one that answers nothing for idle_timeout seconds is gone."""
        period = max(0.2, self.idle_timeout / 3)
        while True:
            await asyncio.sleep(period)
            silent = time.monotonic() - self.last_heard
            if silent > self.idle_timeout:
                self._ws_open = False
                await self.end(f"the browser went silent (nothing for {silent:.0f} s)")
                return
            if self._ws_open:
                await self._send(self.ws.ping())

    async def _close_ws(self) -> None:
        self._ws_open = False
        if not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 1.0)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                pass


def clamp(value: object, default: int, least: int, most: int) -> int:
    """A size from the browser as a whole number within [least, most]; ``default`` if it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return default
    return int(min(most, max(least, value)))


def attach_env(root: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of each tab's attach: this checkout's lbtui, our web driver."""
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({"TEXTUAL_DRIVER": "lbtui.web.driver:AttachWebDriver", "TEXTUAL_COLOR_SYSTEM": "truecolor",
                "TEXTUAL_FPS": "60"})
    env.update(extra or {})
    return env
