"""The run's control channel: live snapshots out, commands in, for ``lbtui attach``.

Every run listens on a Unix socket while its process lives::

    lbtui attach ──connect + authkey──▶ OUT/.lbtui/control.sock
                                          │ accept thread: one thread per client
                                          ▼
    {"op": "hello", "protocol": 1}  ───▶ {"ok": true, "protocol": 1, "schema": 1, "pid": ...}
    {"op": "snapshot"}              ───▶ coord.snapshot()      ─▶ {"ok": true, "snapshot": {...}}
    {"op": "detail", "index": 1}    ───▶ coord.device_detail(1) ─▶ {"ok": true, "detail": {...}}
    {"op": "pause", "index": 1}     ───▶ coord.pause(1)         ─▶ {"ok": true, "message": "..."}
    (resume, drain: "index"; stealing: "enabled"; stop: "now")
    any failure                     ───▶ {"ok": false, "type": "CommandError", "error": "..."}

Messages are JSON (``wire.py``), never pickles. Only the run's user gets in:
the socket is mode 0600 in a 0700 folder, and a client must prove it knows the
run's 32-byte key (``multiprocessing.connection``'s HMAC challenge), kept in a
0600 file. The server only calls the coordinator's thread-safe snapshot and
command methods, so it never holds up the dispatcher.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import socket
import stat
import threading
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from .control import CommandError
from .wire import SCHEMA, to_plain

PROTOCOL = 1  # bump when a request or reply changes shape; older clients then refuse to attach
CONTROL_DIR = ".lbtui"
SOCKET_NAME = "control.sock"
KEY_NAME = "key"
KEY_BYTES = 32
SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes on Linux, with its NUL
POLL_S = 0.25  # how often a client thread looks up from a quiet connection to see if we are closing
MAX_REQUEST = 64 * 1024  # requests are tiny; anything bigger is not ours


def control_dir(out: Path) -> Path:
    return out / CONTROL_DIR


def socket_address(out: Path) -> Path:
    """``OUT/.lbtui/control.sock`` when the path fits a Unix socket address,
    else a name derived from OUT under the user's runtime folder."""
    local = control_dir(out) / SOCKET_NAME
    if len(os.fsencode(str(local))) <= SUN_PATH_MAX:
        return local
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    root = Path(runtime) / "lbtui" if runtime and os.path.isdir(runtime) else Path(f"/tmp/lbtui-{os.getuid()}")
    return root / (hashlib.sha256(os.fsencode(str(out))).hexdigest()[:24] + ".sock")


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) or check an existing one is ours and closed to others."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a folder owned by you")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def write_key(path: Path) -> bytes:
    """A fresh random key in a file only its owner can read (created 0600, never widened)."""
    key = os.urandom(KEY_BYTES)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    os.replace(tmp, path)
    return key


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class ChannelServer:
    """Serves one run's coordinator (a SnapshotSource and RunCommands) to local
    clients. ``start()`` binds and returns what run.json records; ``close()``
    (also at interpreter exit) stops listening and removes the socket and key."""

    def __init__(self, out: Path, target: Any, *, run_id: str = "") -> None:
        self.out = Path(out)
        self.target = target
        self.run_id = run_id
        self.address = socket_address(self.out)
        self.key_path = control_dir(self.out) / KEY_NAME
        self.problem: str | None = None  # why start() failed, for the run's log
        self._listener: Listener | None = None
        self._key = b""
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> dict | None:
        """Listen; returns ``{"socket", "key", "protocol"}``, or None (and ``problem``) if we cannot."""
        try:
            private_dir(control_dir(self.out))
            private_dir(self.address.parent)
            self._key = write_key(self.key_path)
            if self.address.is_socket():
                self.address.unlink()  # left by a killed run: the pid in run.json is gone
            old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
            try:
                self._listener = Listener(str(self.address), family="AF_UNIX", authkey=self._key)
            finally:
                os.umask(old)
            os.chmod(self.address, 0o600)
        except OSError as exc:
            self.problem = f"{exc.strerror or exc} ({exc.filename or self.address})"
            return None
        self._thread = threading.Thread(target=self._accept, name="lbtui-channel", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        return {"socket": str(self.address), "key": str(self.key_path), "protocol": PROTOCOL}

    def close(self) -> None:
        """Stop listening; connected clients see the connection end. Idempotent."""
        if self._listener is None or self._closed.is_set():
            return
        self._closed.set()
        try:  # wake accept(): a bare connect needs no key and cannot hang on the handshake
            with socket.socket(socket.AF_UNIX) as wake:
                wake.settimeout(1.0)
                wake.connect(str(self.address))
        except OSError:
            pass
        self._listener.close()  # also removes the socket file
        if self._thread is not None:
            self._thread.join(2.0)
        try:
            self.key_path.unlink()
        except OSError:
            pass
        atexit.unregister(self.close)

    # -- threads ---------------------------------------------------------------
    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except Exception:  # noqa: BLE001 - a failed handshake (wrong key, a bare connect) or closing
                if not self._closed.is_set():
                    self._closed.wait(0.05)  # out of fds or similar: do not spin
                continue
            if self._closed.is_set():
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), name="lbtui-channel-client", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while not self._closed.is_set():
                try:
                    if not conn.poll(POLL_S):
                        continue
                    raw = conn.recv_bytes(MAX_REQUEST)
                except (EOFError, OSError):
                    return  # the client went away
                try:
                    request = json.loads(raw)
                    reply = self.handle(request) if isinstance(request, dict) else _error("ProtocolError", "not an object")
                except ValueError:
                    reply = _error("ProtocolError", "not JSON")
                try:
                    conn.send_bytes(encode(reply))
                except (OSError, ValueError):
                    return

    # -- requests ----------------------------------------------------------------
    def handle(self, request: dict) -> dict:
        """One request, one reply; never raises."""
        op = request.get("op")
        t = self.target
        try:
            if op == "hello":
                return {"ok": True, "protocol": PROTOCOL, "schema": SCHEMA, "pid": os.getpid(),
                        "run_id": self.run_id}
            if op == "snapshot":
                return {"ok": True, "snapshot": to_plain(t.snapshot())}
            if op == "detail":
                return {"ok": True, "detail": to_plain(t.device_detail(int(request["index"])))}
            if op in ("pause", "resume", "drain"):
                message = getattr(t, op)(int(request["index"]))
            elif op == "stealing":
                message = t.set_stealing(bool(request["enabled"]))
            elif op == "stop":
                message = t.stop(now=bool(request.get("now", False)))
            else:
                return _error("ProtocolError", f"unknown request {op!r}")
            return {"ok": True, "message": str(message)}
        except CommandError as exc:
            return _error("CommandError", str(exc))
        except IndexError as exc:
            return _error("IndexError", f"no device {request.get('index')!r} ({exc})")
        except (KeyError, TypeError, ValueError) as exc:
            return _error("ProtocolError", f"bad {op!r} request: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the client shows it; the run goes on
            return _error("InternalError", f"{type(exc).__name__}: {exc}")


def _error(kind: str, text: str) -> dict:
    return {"ok": False, "type": kind, "error": text}
