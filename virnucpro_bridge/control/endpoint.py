"""Where a run's control channel lives and who may open it: the socket's address,
private folders, the key file and its challenge, and I/O deadlines on a blocking socket.

Both ends use these: the run (``channel.py``) creates the socket and key, the
client (``lbtui/remote.py``) finds them through run.json and checks them before it
trusts them (``read_key``, ``check_socket``): run.json is only a file in a folder,
and what it names may be anything (a FIFO, ``/dev/zero``, another user's socket).
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import stat
import struct
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from pathlib import Path

CONTROL_DIR = ".lbtui"
SOCKET_NAME = "control.sock"
KEY_NAME = "key"
KEY_BYTES = 32
KEY_READ_MAX = 4096  # read no more of a "key" than this: a key is 32 bytes, /dev/zero is endless
SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes on Linux, with its NUL
FALLBACK_PREFIX = "lbtui-"  # mkdtemp's fresh folder for a socket whose OUT path is too long


class Untrusted(Exception):
    """A key or socket that is not what the run makes (one line: which, and why)."""


def control_dir(out: Path) -> Path:
    return out / CONTROL_DIR


def socket_address(out: Path) -> Path | None:
    """``OUT/.lbtui/control.sock``, or None when that path is too long for a Unix socket."""
    local = control_dir(out) / SOCKET_NAME
    return local if len(os.fsencode(str(local))) <= SUN_PATH_MAX else None


def fallback_address(out: Path) -> tuple[Path, Path | None]:
    """Where the socket goes when OUT's path is too long: ``$XDG_RUNTIME_DIR/lbtui/`` when
    that runtime folder is ours and closed to others, else a fresh folder with a random
    name (``mkdtemp``, 0700) that no one else can have made first. Returns the address and
    the fresh folder (None under the runtime folder), which the caller removes at the end;
    run.json names the address, so nothing needs to predict it."""
    name = hashlib.sha256(os.fsencode(str(out))).hexdigest()[:24] + ".sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and len(os.fsencode(f"{runtime}/lbtui/{name}")) <= SUN_PATH_MAX and _private_folder(Path(runtime)):
        return private_dir(Path(runtime) / "lbtui") / name, None
    tmp = tempfile.gettempdir()
    fresh = Path(tempfile.mkdtemp(prefix=FALLBACK_PREFIX, dir=tmp if len(tmp) <= 40 else "/tmp"))
    return fresh / name, fresh


def _private_folder(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not stat.S_IMODE(st.st_mode) & 0o077


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


def authenticate(sock: socket.socket, key: bytes, *, server: bool) -> None:
    """The key challenge both ways on a connected ``sock``: ``multiprocessing.connection``'s
    documented ``deliver_challenge``/``answer_challenge`` (HMAC), the server asking first.
    AuthenticationError for a wrong key, EOFError or OSError when the peer goes or is slow
    (bound the wait with ``set_io_timeout``)."""
    conn = Connection(os.dup(sock.fileno()))  # its own descriptor: closing it leaves ``sock`` open
    try:
        if server:
            deliver_challenge(conn, key)
            answer_challenge(conn, key)
        else:
            answer_challenge(conn, key)
            deliver_challenge(conn, key)
    finally:
        conn.close()


def set_io_timeout(sock: socket.socket, seconds: float) -> None:
    """Bound each blocking read and write on ``sock`` (0: no bound) while leaving it
    blocking, as ``multiprocessing.connection`` needs: a read past it fails with EAGAIN."""
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def read_key(path: str | os.PathLike[str]) -> bytes:
    """The run's key from ``path``, once it proves to be what the run writes: a regular
    file (not a FIFO, device or symlink), owned by this user, closed to others, 32 bytes.
    Untrusted (one line) otherwise; OSError when it cannot be opened at all."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: opening a FIFO does not wait for a writer
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Untrusted(f"{path}: the key is a symbolic link; the run writes a plain file") from None
        raise
    try:
        st = os.fstat(fd)
        _check_private(path, st, "key", stat.S_ISREG, "a regular file")
        data = os.read(fd, KEY_READ_MAX)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise Untrusted(f"{path}: not a key ({len(data):,}{'+' if len(data) == KEY_READ_MAX else ''} bytes, "
                        f"a key is {KEY_BYTES})")
    return data


def check_socket(path: str | os.PathLike[str]) -> None:
    """Untrusted unless ``path`` is a socket owned by this user, closed to others, in a
    folder of this user's closed to others (so no one can swap it before we connect)."""
    path = Path(path)
    _check_private(path.parent, path.parent.lstat(), "socket's folder", stat.S_ISDIR, "a folder")
    _check_private(path, path.lstat(), "socket", stat.S_ISSOCK, "a socket")


def _check_private(path: str | os.PathLike[str], st: os.stat_result, what: str, is_kind: Callable[[int], bool],
                   kind: str) -> None:
    if not is_kind(st.st_mode):
        raise Untrusted(f"{path}: the run's {what} is not {kind} ({_kind_of(st.st_mode)})")
    if st.st_uid != os.getuid():
        raise Untrusted(f"{path}: the run's {what} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise Untrusted(f"{path}: the run's {what} is open to others (mode {mode:04o}); the run makes it "
                        f"{'0700' if kind == 'a folder' else '0600'}")


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "something else"
