"""The run's control channel: live snapshots out, commands in, for ``lbtui attach``.

Every run listens on a Unix socket while its process lives::

    lbtui attach ──connect──▶ OUT/.lbtui/control.sock
                               │ accept thread: never blocks on a client
                               ▼
                             one thread per client: key handshake (HANDSHAKE_TIMEOUT_S), then
    {"op": "hello", "protocol": 1}  ───▶ {"ok": true, "protocol": 1, "schema": 1, "pid": ...}
    (+ "read_only": true: this connection may only watch, for the rest of its life)
    {"op": "snapshot"}              ───▶ coord.snapshot()      ─▶ {"ok": true, "snapshot": {...}}
    {"op": "detail", "index": 1}    ───▶ coord.device_detail(1) ─▶ {"ok": true, "detail": {...}}
    {"op": "pause", "index": 1}     ───▶ coord.pause(1)         ─▶ {"ok": true, "message": "..."}
    (resume, drain: "index"; stealing: "enabled"; stop: "now")
    any failure                     ───▶ {"ok": false, "type": "CommandError", "error": "..."}

Rules (the prose is in docs/remote.md and docs/security.md): JSON in length-prefixed
frames (``wire.py``), never pickles; a bad message gets an error reply and the connection
goes on; the key handshake has one deadline per client in its own thread; a read-only
hello makes this side refuse every command; requests close together share one snapshot
(SNAPSHOT_SHARE_S), so dashboards cost the dispatcher a bounded few snapshots a second.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from pathlib import Path
from typing import Any, Protocol

from .control import CommandError, RunCommands, SnapshotSource
from .endpoint import (
    KEY_NAME,
    authenticate,
    control_dir,
    fallback_address,
    private_dir,
    set_io_timeout,
    socket_address,
    write_key,
)
from .wire import SCHEMA, FrameTooBig, frame, read_frame, to_plain

PROTOCOL = 1  # bump when a request or reply changes shape; older clients then refuse to attach
HANDSHAKE_TIMEOUT_S = 5.0  # for the whole key exchange: an honest client needs milliseconds
MAX_CLIENTS = 64  # a thread each: far more dashboards than anyone opens, few enough never to starve the run
MAX_REQUEST = 64 * 1024  # requests are tiny; anything bigger is not ours
# an oversized request up to this is read past and answered; a bigger one ends its connection
SKIP_MAX = 64 * 1024 * 1024
SNAPSHOT_SHARE_S = 0.2  # requests this close share one snapshot (the fastest dashboard refresh is 0.5 s)
ID_MAX = 64  # the longest request id echoed back (an id is the client's; it need not be long)
COMMANDS = ("pause", "resume", "drain", "stealing", "stop")
READ_ONLY_REFUSAL = "read-only: this dashboard said at hello that it only watches (--read-only)"
Message = dict[str, Any]  # a request or reply: a JSON object, whose values are checked where read


class Target(SnapshotSource, RunCommands, Protocol):
    """What a channel serves: a run's snapshots and its commands (the Coordinator)."""


def encode(message: Message) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class ChannelServer:
    """Serves one run's coordinator (a SnapshotSource and RunCommands) to local
    clients. ``start()`` binds and returns what run.json records; ``close()``
    (also at interpreter exit) stops listening, ends every client's connection and
    removes the socket and key."""

    def __init__(self, out: Path, target: Target, *, run_id: str = "") -> None:
        self.out = Path(out)
        self.target = target
        self.run_id = run_id
        self.address: Path | None = socket_address(self.out)  # None: too long; start() picks one
        self.key_path = control_dir(self.out) / KEY_NAME
        self._fresh_dir: Path | None = None  # the folder start() made for the socket, removed by close()
        self.problem: str | None = None  # why start() failed, for the run's log
        self._listener: socket.socket | None = None
        self._key = b""
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()  # connected, for close() to end them
        self._clients_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._shared: tuple[float, bytes] | None = None  # (monotonic time, snapshot as JSON)

    def start(self) -> Message | None:
        """Listen; returns ``{"socket", "key", "protocol"}``, or None (and ``problem``) if we cannot."""
        try:
            private_dir(control_dir(self.out))
            if self.address is None:
                self.address, self._fresh_dir = fallback_address(self.out)
            private_dir(self.address.parent)
            self._key = write_key(self.key_path)
            if self.address.is_socket():
                self.address.unlink()  # left by a killed run: the pid in run.json is gone
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
            try:
                listener.bind(str(self.address))
            except OSError:
                listener.close()
                raise
            finally:
                os.umask(old)
            os.chmod(self.address, 0o600)
            listener.listen(MAX_CLIENTS)
        except OSError as exc:
            self.problem = f"{exc.strerror or exc} ({exc.filename or self.address})"
            self._remove_fresh_dir()
            return None
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="lbtui-channel", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        return {"socket": str(self.address), "key": str(self.key_path), "protocol": PROTOCOL}

    def close(self) -> None:
        """Stop listening; connected clients see the connection end. Idempotent."""
        if self._listener is None or self._closed.is_set():
            return
        self._closed.set()
        try:  # wakes accept() on Linux
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for path in (self.key_path, *([self.address] if self.address is not None else [])):
            try:
                path.unlink()
            except OSError:
                pass
        self._remove_fresh_dir()
        with self._clients_lock:
            for sock in self._clients:
                try:  # wakes its thread, wherever it waits: handshake, request or reply
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(2.0)
        atexit.unregister(self.close)

    def _remove_fresh_dir(self) -> None:
        """The folder start() made for the socket, with the socket, if it made one."""
        if self._fresh_dir is None or self.address is None:  # an address is picked with the folder
            return
        for remove, path in ((os.unlink, self.address), (os.rmdir, self._fresh_dir)):
            try:
                remove(path)
            except OSError:
                pass

    @property
    def clients(self) -> int:
        """Connections open now (handshaking or attached)."""
        with self._clients_lock:
            return len(self._clients)

    # -- threads ---------------------------------------------------------------
    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                if not self._closed.is_set():
                    self._closed.wait(0.05)  # out of fds or similar: do not spin
                continue
            with self._clients_lock:
                full = len(self._clients) >= MAX_CLIENTS or self._closed.is_set()
                if not full:
                    self._clients.add(sock)
            if full:
                sock.close()  # the client reads EOF and says it cannot attach
                continue
            threading.Thread(target=self._client, args=(sock,), name="lbtui-channel-client", daemon=True).start()

    def _client(self, sock: socket.socket) -> None:
        try:
            if self._handshake(sock):
                self._serve(sock)
        finally:
            with self._clients_lock:
                self._clients.discard(sock)
            sock.close()

    def _handshake(self, sock: socket.socket) -> bool:
        """The key challenge both ways, all of it within HANDSHAKE_TIMEOUT_S: past the
        deadline a timer shuts the socket down, which ends whatever read or write waits."""
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        timer = threading.Timer(HANDSHAKE_TIMEOUT_S, expire)
        timer.daemon = True
        timer.start()
        try:
            set_io_timeout(sock, HANDSHAKE_TIMEOUT_S)
            authenticate(sock, self._key, server=True)
            set_io_timeout(sock, 0)
        except (AuthenticationError, EOFError, OSError):
            return False  # a wrong key, a silent, slow or vanished client, or closing
        finally:
            timer.cancel()
            timer.join()
        return not expired.is_set()

    def _serve(self, sock: socket.socket) -> None:
        peer = Peer()
        while not self._closed.is_set():
            try:
                raw = read_frame(sock, MAX_REQUEST, SKIP_MAX)
            except FrameTooBig as exc:
                self._send(sock, encode(_error("ProtocolError", f"request too big: {exc}")))
                if exc.skipped:
                    continue
                return
            except (EOFError, OSError):
                return  # the client went away, or we are closing
            if not self._send(sock, self.respond(raw, peer)):
                return

    @staticmethod
    def _send(sock: socket.socket, body: bytes) -> bool:
        try:
            sock.sendall(frame(body))
            return True
        except OSError:
            return False

    # -- requests ----------------------------------------------------------------
    def respond(self, raw: bytes, peer: Peer) -> bytes:
        """One frame's reply, encoded (``peer``: what this connection has said so far); never raises."""
        try:
            request = json.loads(raw)
        except (ValueError, RecursionError):
            return encode(_error("ProtocolError", "not JSON"))
        if not isinstance(request, dict):
            return encode(_error("ProtocolError", "not an object"))
        rid = request.get("id")
        if not (isinstance(rid, int) and not isinstance(rid, bool) or isinstance(rid, str) and len(rid) <= ID_MAX):
            rid = None
        op = request.get("op")
        if op != "hello" and not peer.greeted:
            reply: Message | bytes = _error("ProtocolError", f"{op!r} before hello: say hello first")
        else:
            if op == "hello":
                peer.greeted = True
                peer.read_only = peer.read_only or request.get("read_only") is True  # never lifted
            reply = self.handle(request, read_only=peer.read_only)
        if isinstance(reply, bytes):  # a shared snapshot, already JSON
            head = b'{"ok":true,' + (b'"id":' + json.dumps(rid).encode() + b"," if rid is not None else b"")
            return head + b'"snapshot":' + reply + b"}"
        if rid is not None:
            reply["id"] = rid
        return encode(reply)

    def handle(self, request: Message, *, read_only: bool = False) -> Message | bytes:
        """One request, one reply (a snapshot comes as its JSON bytes); never raises.
        ``read_only``: the connection said so at hello, and every command is refused."""
        op = request.get("op")
        t = self.target
        try:
            if op == "hello":
                return {"ok": True, "protocol": PROTOCOL, "schema": SCHEMA, "pid": os.getpid(),
                        "run_id": self.run_id, "read_only": read_only}
            if op == "snapshot":
                return self._snapshot_json()
            if op == "detail":
                return {"ok": True, "detail": to_plain(t.device_detail(_int(request, "index")))}
            if op not in COMMANDS:
                return _error("ProtocolError", f"unknown request {op!r}"[:200])
            if read_only:
                return _error("CommandError", READ_ONLY_REFUSAL)
            self._shared = None  # the next snapshot shows what this command did
            if op == "stealing":
                message = t.set_stealing(_bool(request, "enabled"))
            elif op == "stop":
                message = t.stop(now=_bool(request, "now", False))
            else:
                message = getattr(t, op)(_int(request, "index"))
            self._shared = None
            return {"ok": True, "message": str(message)}
        except CommandError as exc:
            return _error("CommandError", str(exc))
        except IndexError as exc:
            return _error("IndexError", f"no device {request.get('index')!r} ({exc})")
        except (KeyError, TypeError, ValueError) as exc:
            return _error("ProtocolError", f"bad {op!r} request: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the client shows it; the run goes on
            return _error("InternalError", f"{type(exc).__name__}: {exc}")

    def _snapshot_json(self) -> bytes:
        """The run's snapshot as JSON, taken at most once per SNAPSHOT_SHARE_S for all clients."""
        with self._snapshot_lock:
            shared, now = self._shared, time.monotonic()
            if shared is None or now - shared[0] >= SNAPSHOT_SHARE_S:
                shared = (now, encode(to_plain(self.target.snapshot())))
                self._shared = shared
            return shared[1]


@dataclass
class Peer:
    """What one connection has said: hello (so it may ask for more), and read-only (for good)."""

    greeted: bool = False
    read_only: bool = False


def _int(request: Message, name: str) -> int:
    value = request[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    return value


def _bool(request: Message, name: str, default: bool | None = None) -> bool:
    value = request.get(name, default)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, not {type(value).__name__}")
    return value


def _error(kind: str, text: str) -> Message:
    return {"ok": False, "type": kind, "error": text}
