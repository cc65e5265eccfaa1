"""A run in another process, seen through its control channel.

    LbtuiApp ──snapshot(), pause(i) ...──▶ RemoteRun ──JSON over a Unix socket──▶ ChannelServer (the run)

``open_run(OUT)`` decides what OUT holds: a live run (``RemoteRun``), a
finished one (``FinishedRun``, its final state from summary.json), or a
reason to refuse (one line, exit 2). ``ReadOnlyCommands`` is the one switch
behind ``--read-only``: every command it is given is refused.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import socket
import threading
import time
from dataclasses import replace
from multiprocessing import AuthenticationError
from pathlib import Path
from typing import Any

from virnucpro_bridge.control import CommandError, RunCommands
from virnucpro_bridge.control.channel import PROTOCOL, encode
from virnucpro_bridge.control.endpoint import Untrusted, authenticate, check_socket, read_key, set_io_timeout
from virnucpro_bridge.control.snapshot import DeviceDetail, RunSnapshot
from virnucpro_bridge.control.wire import SCHEMA, FrameTooBig, frame, from_plain, read_frame
from virnucpro_bridge.errors import InputError
from virnucpro_bridge.runfiles.reader import read_run, session_summary

from .finished import FinishedRun, pid_alive

REPLY_TIMEOUT_S = 30.0  # a run this slow to answer is stuck; the dashboard says the connection is lost
MAX_REPLY = 1 << 30  # a snapshot of the largest run is a few MB; past this the peer is not a run
CONNECT_TIMEOUT_S = 10.0  # connect and key handshake; the run answers in milliseconds unless it is stuck
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # what a host name can be


class ConnectionLost(Exception):
    """The channel closed (or stopped answering) while the run had not finished."""


class ReadOnlyCommands:
    """RunCommands that refuse everything: ``--read-only`` in one place."""

    REASON = "read-only: this dashboard cannot change the run (started with --read-only)"

    def __init__(self, inner: RunCommands | None = None) -> None:
        self.inner = inner  # kept only to show what is being guarded; never called

    def _refuse(self, *_args: object, **_kwargs: object) -> str:
        raise CommandError(self.REASON)

    pause = resume = drain = set_stealing = stop = _refuse


class RemoteRun:
    """SnapshotSource + RunCommands over one connection to a live run.

    Calls come from several app threads at once; a lock keeps each request
    paired with its reply (each request carries an id; a late reply to an
    earlier one is skipped). Once the channel closes, ``snapshot()`` returns the
    last snapshot marked finished if the run wrote its summary (it ended), and
    raises ConnectionLost otherwise (its process died or hangs). ``abort()``,
    from any thread and without the lock, ends the connection at once: a thread
    waiting for a reply wakes with ConnectionLost."""

    def __init__(self, out: Path, run: dict[str, Any], sock: socket.socket, hello: dict[str, Any]) -> None:
        self.out = out
        self.read_only = hello.get("read_only") is True  # the run holds this connection to watching
        self.run = run
        self.pid = hello.get("pid") or run.get("main_pid")
        self.run_id = hello.get("run_id") or run.get("run_id")
        self._sock: socket.socket | None = sock  # past the key handshake: frames both ways (wire.py)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._last: RunSnapshot | None = None
        self._lost: str | None = None
        self._final: FinishedRun | None = None  # what it left, once it ended (read once)
        self._final_snapshot: RunSnapshot | None = None

    @classmethod
    def connect(cls, out: Path, run: dict[str, Any], *, read_only: bool = False) -> RemoteRun:
        """Check the key and socket run.json names, connect and shake hands; Untrusted,
        OSError or AuthenticationError for the caller to word. ``read_only``: say so at
        hello, and the run refuses every command from this connection."""
        control = run.get("control") or {}
        key = read_key(control["key"])
        check_socket(control["socket"])
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(control["socket"])
            sock.settimeout(None)
            set_io_timeout(sock, CONNECT_TIMEOUT_S)  # a run that never answers the handshake fails it
            try:
                authenticate(sock, key, server=False)
            except (BlockingIOError, TimeoutError):
                raise InputError(f"the run in {out} does not answer (pid {run.get('main_pid')})") from None
            set_io_timeout(sock, 0)
            hello = {"op": "hello", "protocol": PROTOCOL, "schema": SCHEMA}
            sock.sendall(frame(encode({**hello, "read_only": True} if read_only else hello)))
            sock.settimeout(CONNECT_TIMEOUT_S)
            try:
                hello = json.loads(read_frame(sock, MAX_REPLY, 0))
            except TimeoutError:
                raise InputError(f"the run in {out} does not answer (pid {run.get('main_pid')})") from None
        except BaseException:
            sock.close()
            raise
        theirs, schema = int(hello.get("protocol", 0)), int(hello.get("schema", 0))
        refusal = None
        if theirs > PROTOCOL or schema > SCHEMA:
            refusal = f"this run was started by a newer lbtui (protocol {theirs}); upgrade to attach"
        elif theirs < PROTOCOL:
            refusal = (f"this run was started by an older lbtui (protocol {theirs}); "
                       "attach with the lbtui that started it")
        if refusal:
            sock.close()
            raise InputError(refusal)
        return cls(out, run, sock, hello)

    def abort(self) -> None:
        """End the connection now, from any thread; a request in flight fails with ConnectionLost."""
        self._lost = self._lost or "detached"
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.abort()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    # -- the wire ------------------------------------------------------------
    def _request(self, **request: object) -> dict[str, Any]:
        with self._lock:
            sock = self._sock
            if sock is None:
                raise ConnectionLost(self._lost or "not connected")
            rid = next(self._ids)
            try:
                sock.settimeout(None)
                sock.sendall(frame(encode({**request, "id": rid})))
                deadline = time.monotonic() + REPLY_TIMEOUT_S
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no answer in {REPLY_TIMEOUT_S:g} s")
                    sock.settimeout(left)  # a socket timeout is a TimeoutError
                    reply = json.loads(read_frame(sock, MAX_REPLY, 0))
                    if not isinstance(reply, dict):
                        raise EOFError("the run sent something that is not a reply")
                    if reply.get("id") in (rid, None):  # None: a run that does not echo ids
                        return reply
            except (EOFError, OSError, ValueError, FrameTooBig) as exc:
                sock.close()
                self._sock = None
                self._lost = self._why_lost(exc) if self._lost != "detached" else self._lost
                raise ConnectionLost(self._lost) from None

    def _why_lost(self, exc: BaseException) -> str:
        if isinstance(exc, FrameTooBig):
            return f"the run (pid {self.pid}) sent {exc}"
        if isinstance(exc, ValueError):
            return f"the run (pid {self.pid}) sent a reply that is not JSON: {exc}"
        if isinstance(exc, TimeoutError):
            return f"the run (pid {self.pid}) stopped answering: {exc}"
        if pid_alive(self.pid, self.run.get("start_epoch")):
            return f"lost the connection to the run (pid {self.pid} is still running)"
        return f"the run's process (pid {self.pid}) is gone; `lbtui report {self.out}` shows what it did"

    def _ended(self) -> RunSnapshot | None:
        """The final state once the channel has closed, if the run ended properly: its
        summary's figures, with the events the dashboard already has."""
        if self._final_snapshot is not None:
            return self._final_snapshot
        summary = session_summary(self.out, self.run)
        if summary is None:
            return None
        self._final = FinishedRun(self.out, self.run, summary)
        final, last = self._final.snapshot(), self._last
        if last is not None:  # the log keeps the live events' numbering: nothing is shown twice
            final = replace(final, events=last.events, steals=last.steals, name=last.name or final.name,
                            notices=last.notices or final.notices, error=last.error or final.error,
                            devices=final.devices or last.devices)
        self._final_snapshot = final
        return final

    # -- SnapshotSource ---------------------------------------------------------
    def snapshot(self) -> RunSnapshot:
        if self._final_snapshot is not None:
            return self._final_snapshot
        try:
            reply = self._request(op="snapshot")
        except ConnectionLost:
            ended = self._ended()
            if ended is None:
                raise
            return ended
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error") or "the run could not take a snapshot")
        self._last = from_plain(RunSnapshot, reply["snapshot"])
        return self._last

    def device_detail(self, index: int) -> DeviceDetail:
        try:
            reply = self._request(op="detail", index=index)
        except ConnectionLost:
            if self._ended() is None or self._final is None:
                raise
            return self._final.device_detail(index)
        if not reply.get("ok"):
            if reply.get("type") == "IndexError":
                raise IndexError(reply.get("error"))
            raise RuntimeError(reply.get("error"))
        return from_plain(DeviceDetail, reply["detail"])

    # -- RunCommands ---------------------------------------------------------
    def _command(self, **request: object) -> str:
        try:
            reply = self._request(**request)
        except ConnectionLost as exc:
            raise CommandError("the run has ended" if self._ended() is not None else str(exc)) from None
        if not reply.get("ok"):
            raise CommandError(reply.get("error") or "refused")
        return str(reply.get("message", ""))

    def pause(self, index: int) -> str:
        return self._command(op="pause", index=index)

    def resume(self, index: int) -> str:
        return self._command(op="resume", index=index)

    def drain(self, index: int) -> str:
        return self._command(op="drain", index=index)

    def set_stealing(self, enabled: bool) -> str:
        return self._command(op="stealing", enabled=enabled)

    def stop(self, now: bool = False) -> str:
        return self._command(op="stop", now=now)


def elsewhere(run: dict[str, Any], out_arg: str) -> str | None:
    """The line for a run whose main process is on another host (a compute node), with
    the command that attaches from there; None when it is on this one (or run.json
    does not say)."""
    host = run.get("host")
    if not isinstance(host, str) or not host or host == socket.gethostname():
        return None
    if not HOST_NAME.fullmatch(host):
        host = ascii(host)  # run.json is text from a file: never let it write control characters
    job = run.get("slurm_job")
    job = str(job) if isinstance(job, (str, int)) and str(job).replace("_", "").isdigit() else None
    out = shlex.quote(out_arg)
    how = (f"srun --overlap --jobid {job} --pty lbtui attach {out}" if job
           else f"ssh -t {shlex.quote(host)} lbtui attach {out}")
    held = f"pid {run.get('main_pid')}" + (f", Slurm job {job}" if job else "")
    return f"the run in {out_arg} runs on {host} ({held}), not on this host; attach from there: {how}"


def open_run(out_arg: str, *, read_only: bool = False) -> RemoteRun | FinishedRun:
    """What ``lbtui attach OUT`` shows; InputError (one line, exit 2) when there is nothing to show,
    or when what run.json names is not the run's own key and socket."""
    out = Path(out_arg).expanduser().resolve()  # as the run itself resolved --out
    run = read_run(out, out_arg)
    summary = session_summary(out, run)
    pid = run.get("main_pid")
    if summary is None and (where := elsewhere(run, out_arg)) is not None:
        raise InputError(where)  # its pid and socket mean nothing on this host
    if not pid_alive(pid, run.get("start_epoch")):
        if summary is not None:
            return FinishedRun(out, run, summary)
        raise InputError(f"the run in {out_arg} is not running (pid {pid} is gone); "
                         f"`lbtui report {out_arg}` shows what it did")
    control = run.get("control") or {}
    if not control.get("socket") or not control.get("key"):
        if summary is not None:
            return FinishedRun(out, run, summary)
        raise InputError(f"the run in {out_arg} (pid {pid}) has no control channel: it could not listen "
                         "(see its events.jsonl)")
    try:
        return RemoteRun.connect(out, run, read_only=read_only)
    except Untrusted as exc:
        raise InputError(f"cannot attach to the run in {out_arg}: {exc}") from None
    except PermissionError as exc:
        raise InputError(f"{exc.filename or control['socket']}: permission denied "
                         "(only the user who started the run can attach)") from None
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        if (summary := session_summary(out, run)) is not None:
            return FinishedRun(out, run, summary)  # it ended while we looked
        if not pid_alive(pid, run.get("start_epoch")):
            raise InputError(f"the run in {out_arg} is not running (pid {pid} is gone); "
                             f"`lbtui report {out_arg}` shows what it did") from None
        raise InputError(f"cannot reach the run in {out_arg} (pid {pid}): {exc.strerror or exc}") from None
    except TimeoutError:
        raise InputError(f"the run in {out_arg} does not answer (pid {pid})") from None
    except EOFError:
        raise InputError(f"the run in {out_arg} (pid {pid}) closed the connection: it is ending, "
                         "or has as many dashboards attached as it serves") from None
    except (AuthenticationError, OSError, ValueError) as exc:
        raise InputError(f"cannot attach to the run in {out_arg}: {type(exc).__name__}: {exc}") from None
