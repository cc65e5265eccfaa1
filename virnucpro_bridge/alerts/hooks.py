"""Deliver alerts: run ``--notify CMD``, POST to ``--notify-url URL``, off the run's threads.

    Notifier.send(alert) ── queue (bounded) ──▶ its thread: the command, then the URL, each
                                                 with HOOK_TIMEOUT_S; a failure is logged once

The command is split like a shell would (``shlex``) but never run by one: the
alert reaches it only through its environment (``LBTUI_EVENT``, ``LBTUI_OUT``,
``LBTUI_MESSAGE``, ``LBTUI_HOST``, ``LBTUI_EXIT_CODE``, ``LBTUI_DEVICE``), so a
file named ``$(rm -rf ~)`` is text, not a command. It runs in its own session
with stdin and stdout closed; on timeout its whole process group is killed.
The URL gets one JSON object: ``text`` (what Slack and Mattermost show) and
the same fields as the environment.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from ..errors import UsageError
from .rules import Alert

HOOK_TIMEOUT_S = 10.0  # per delivery: a webhook or a mail command answers in well under that
QUEUED = 100  # alerts waiting for a slow hook; more are dropped (and counted) rather than kept forever
STDERR_KEPT = 2000  # bytes of a failing command's stderr read back for its one line


def check_command(command: str) -> list[str]:
    """``--notify CMD`` as argv, or UsageError (exit 2) before anything is written."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--notify {command!r}: {exc}") from None
    if not argv:
        raise UsageError("--notify: empty command")
    if shutil.which(argv[0]) is None:
        raise UsageError(f"--notify: {argv[0]}: no such command (or it is not executable)")
    return argv


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--notify-url {url!r}: expected an http:// or https:// URL")
    return url


class Notifier:
    """Runs each alert through the hooks on its own thread. ``log(line)`` says a hook's
    first failure (and the first dropped alert) once; it is called from that thread."""

    def __init__(self, out: str, *, command: str | None = None, url: str | None = None,
                 log: Callable[[str], None] = lambda line: None, timeout: float = HOOK_TIMEOUT_S) -> None:
        self.out, self.log, self.timeout = out, log, timeout
        self.argv = check_command(command) if command else None
        self.url = check_url(url) if url else None
        self.host = socket.gethostname()
        self.failures: dict[str, str] = {}  # hook -> its first failure (logged once)
        self.dropped = 0
        self._queue: queue.Queue[Alert | None] = queue.Queue(QUEUED)
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.argv is not None or self.url is not None

    def send(self, alert: Alert) -> None:
        """Hand ``alert`` over; never blocks."""
        if not self.active:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver_all, name="lbtui-notify", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1:
                self.log(f"notify: hooks too slow, alerts dropped (first: {alert.event})")

    def close(self, timeout: float) -> bool:
        """Let queued alerts go out for at most ``timeout`` s; True when all did."""
        if self._thread is None:
            return True
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=max(0.0, timeout))
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the notifier's thread ---------------------------------------------------------
    def _deliver_all(self) -> None:
        # A thread inherits its creator's signal mask, and a hook its thread's: never hand a
        # hook SIGINT/SIGTERM blocked (the engine blocks them around starting its workers).
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        while (alert := self._queue.get()) is not None:
            hooks: list[tuple[str, Callable[[Alert], None]]] = []
            if self.argv:
                hooks.append(("--notify", functools.partial(self._run_command, self.argv)))
            if self.url:
                hooks.append(("--notify-url", functools.partial(self._post, self.url)))
            for name, hook in hooks:
                try:
                    hook(alert)
                except Exception as exc:  # noqa: BLE001 - a hook's failure is said once, never raised
                    if name not in self.failures:
                        self.failures[name] = str(exc)
                        self.log(f"{name} failed for '{alert.event}': {exc} (its later failures are not logged)")

    def environment(self, alert: Alert) -> dict[str, str]:
        extra = {"LBTUI_EVENT": alert.event, "LBTUI_OUT": self.out, "LBTUI_MESSAGE": alert.message,
                 "LBTUI_HOST": self.host, "LBTUI_EXIT_CODE": "" if alert.exit_code is None else str(alert.exit_code),
                 "LBTUI_DEVICE": alert.device or ""}
        return {**os.environ, **{k: v.replace("\0", "?") for k, v in extra.items()}}

    def _run_command(self, argv: list[str], alert: Alert) -> None:
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: a lingering grandchild cannot hang us
            proc = subprocess.Popen(argv, env=self.environment(alert), stdin=subprocess.DEVNULL,  # noqa: S603
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            try:
                code = proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RuntimeError(f"no answer in {self.timeout:g} s (killed)") from None
            if code != 0:
                err.seek(0)
                last = [ln for ln in err.read(STDERR_KEPT).decode(errors="replace").splitlines() if ln.strip()]
                raise RuntimeError(f"exit {code}" + (f": {last[-1].strip()}" if last else ""))

    def payload(self, alert: Alert) -> dict[str, object]:
        return {"text": f"lbtui on {self.host}: {self.out}: {alert.message}", "event": alert.event,
                "out": self.out, "message": alert.message, "host": self.host, "exit_code": alert.exit_code,
                "device": alert.device}

    def _post(self, url: str, alert: Alert) -> None:
        request = urllib.request.Request(url, data=json.dumps(self.payload(alert)).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "lbtui"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310 - http(s) only
                reply.read(1024)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(str(getattr(exc, "reason", exc))) from None
