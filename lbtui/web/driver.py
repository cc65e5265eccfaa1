"""textual's web driver for ``lbtui attach`` under ``lbtui serve``, with output
that can never block the app.

textual's ``WebDriver`` writes each frame of the screen straight to stdout (a
pipe to the server) from the event loop. When the server stops reading that
pipe (its browser vanished and it stopped forwarding; a stuck server), the
pipe fills, the write blocks, and with it the whole event loop: the app can
no longer see a quit request, a SIGTERM, or its stdin closing, and stays
behind for good. Here the event loop only queues bytes; a writer thread of
our own does the blocking writes, and when the output is gone (EPIPE, or more
than MAX_QUEUED bytes waiting on a reader that does not read) the attach ends
through its lifeline (``lifeline.py``) instead of writing into the void.

Packets are textual's: a type byte (``D`` screen data, ``M`` meta JSON), a
4-byte big-endian length, the payload.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import deque
from typing import Any

from textual.app import App
from textual.drivers.web_driver import WebDriver

from ..lifeline import end_process

MAX_QUEUED = 4 * 1024 * 1024  # a dashboard writes kilobytes a second: this much unread means nobody reads
FLUSH_ON_EXIT_S = 0.5  # the goodbye packet's time to reach the server when the app stops


class OutputPump:
    """A writer thread for one file descriptor: ``put`` never blocks."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.gone: str | None = None  # why the output is gone, once it is
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="lbtui-output", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        with self._ready:
            if self.gone:
                return
            self._queue.append(data)
            self._queued += len(data)
            if self._queued > MAX_QUEUED:
                self._give_up(f"output not read ({self._queued:,} bytes waiting)")
            self._ready.notify()

    def flush(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until everything queued is written or the output is gone."""
        with self._ready:
            self._ready.wait_for(lambda: self._queued == 0 or self.gone is not None, timeout)

    def _give_up(self, reason: str) -> None:
        self.gone = reason
        self._queue.clear()
        self._queued = 0
        self._ready.notify_all()
        threading.Thread(target=end_process, args=(reason,), daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._queue or self.gone)
                if self.gone:
                    return
                data = b"".join(self._queue)
                self._queue.clear()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError as exc:  # EPIPE: the reader closed; EBADF, EIO: the output is not there
                with self._ready:
                    self._give_up(f"output closed ({exc.strerror or exc})")
                return
            with self._ready:
                self._queued -= len(data)
                self._ready.notify_all()


class AttachWebDriver(WebDriver):
    """``WebDriver`` whose writes go through an ``OutputPump``."""

    def __init__(self, app: App[Any], *, debug: bool = False, mouse: bool = True,
                 size: tuple[int, int] | None = None) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        if sys.__stdout__ is None:
            raise RuntimeError("a served session writes to its stdout, and it has none")
        self.pump = OutputPump(sys.__stdout__.fileno())

    def queue_packet(self, kind: bytes, payload: bytes) -> None:
        self.pump.put(kind + len(payload).to_bytes(4, "big") + payload)

    def write(self, data: str) -> None:
        self.queue_packet(b"D", data.encode("utf-8"))

    def write_meta(self, data: dict[str, object]) -> None:
        self.queue_packet(b"M", json.dumps(data).encode("utf-8", errors="ignore"))

    def stop_application_mode(self) -> None:
        super().stop_application_mode()  # ends with the "exit" packet: the server closes the tab
        self.pump.flush(FLUSH_ON_EXIT_S)
