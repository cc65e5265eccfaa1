"""Where a run's control channel lives and who may open it: the socket's address,
private folders, the key file, and I/O deadlines on a blocking socket.

Both ends use these: the run (``channel.py``) creates the socket and key, the
client (``lbtui/remote.py``) finds them through run.json and bounds its handshake.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import struct
from pathlib import Path

CONTROL_DIR = ".lbtui"
SOCKET_NAME = "control.sock"
KEY_NAME = "key"
KEY_BYTES = 32
SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes on Linux, with its NUL


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


def set_io_timeout(sock: socket.socket, seconds: float) -> None:
    """Bound each blocking read and write on ``sock`` (0: no bound) while leaving it
    blocking, as ``multiprocessing.connection`` needs: a read past it fails with EAGAIN."""
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
