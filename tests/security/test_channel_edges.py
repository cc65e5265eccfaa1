"""The control channel's edges: what run.json names is checked before it is trusted, the
key handshake has one deadline, the fallback socket folder cannot be squatted, and a
client that says read-only at hello is held to it by the run.

run.json is a file in a folder: whoever can write it can name anything as the key or the
socket (a FIFO, /dev/zero, a huge file, another user's files). attach must refuse each in
one line and exit 2, quickly, without reading more than a few KB.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from lbtui.remote import RemoteRun, open_run
from tests.attach.conftest import ask, authed_socket, wait_until
from virnucpro_bridge.control import CommandError, channel
from virnucpro_bridge.errors import InputError

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
FALLBACK_PREFIX = "lbtui-"  # endpoint.FALLBACK_PREFIX
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files another user owns")


def attach(out: Path) -> subprocess.CompletedProcess:
    """``lbtui attach OUT`` without a terminal, bounded: a hang fails the test, not the suite."""
    return subprocess.run([sys.executable, "-m", "lbtui.cli", "attach", str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def one_line(err: str) -> str:
    assert err.startswith("lbtui: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def control_of(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())["control"]


def rename_in_run_json(out: Path, **control: str) -> None:
    data = json.loads((out / "run.json").read_text())
    data["control"].update(control)
    (out / "run.json").write_text(json.dumps(data))


# -- the key ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dev-zero-link"])
def test_a_key_that_is_no_file_is_refused_in_one_line_without_hanging(served, tmp_path, kind) -> None:
    s = served()
    key = tmp_path / "key"
    if kind == "fifo":
        os.mkfifo(key, 0o600)
    elif kind == "dev-zero":
        key = Path("/dev/zero")
    else:
        key.symlink_to("/dev/zero")
    rename_in_run_json(s.out, key=str(key))
    done = attach(s.out)
    assert done.returncode == 2
    err = one_line(done.stderr)
    assert str(key) in err
    assert {"fifo": "not a regular file (a FIFO)", "dev-zero": "not a regular file (a character device)",
            "dev-zero-link": "symbolic link"}[kind] in err
    assert s.fake.calls == []


def test_a_huge_key_is_refused_after_reading_a_few_kb(served, tmp_path) -> None:
    s = served()
    key = tmp_path / "key"
    key.write_bytes(b"k" * (64 << 20))
    key.chmod(0o600)
    rename_in_run_json(s.out, key=str(key))
    with pytest.raises(InputError, match=r": not a key \(4,096\+ bytes, a key is 32\)$"):
        open_run(str(s.out))


def test_a_key_others_can_read_is_refused(served) -> None:
    s = served()
    key = Path(control_of(s.out)["key"])
    key.chmod(0o644)
    with pytest.raises(InputError, match=r"the run's key is open to others \(mode 0644\); the run makes it 0600"):
        open_run(str(s.out))
    key.chmod(0o600)
    open_run(str(s.out)).close()  # as the run made it: fine


@as_root
def test_a_key_and_socket_another_user_made_are_refused(served, tmp_path) -> None:
    """Someone who can write run.json points it at a key and socket of their own: their key
    would let them answer the handshake, feed us their snapshots and take our commands."""
    s = served()
    evil = tmp_path / "evil"
    evil.mkdir(mode=0o700)
    (evil / "key").write_bytes(b"e" * 32)
    (evil / "key").chmod(0o600)
    os.chown(evil / "key", NOBODY, NOBODY)
    rename_in_run_json(s.out, key=str(evil / "key"))
    with pytest.raises(InputError, match=rf"the run's key belongs to uid {NOBODY}, not to you \(uid 0\)"):
        open_run(str(s.out))
    rename_in_run_json(s.out, key=str(Path(s.server.key_path)))
    os.chown(s.server.address, NOBODY, NOBODY)
    with pytest.raises(InputError, match=rf"the run's socket belongs to uid {NOBODY}, not to you"):
        open_run(str(s.out))
    os.chown(s.server.address, 0, 0)
    os.chown(s.server.address.parent, NOBODY, NOBODY)
    with pytest.raises(InputError, match=rf"the run's socket's folder belongs to uid {NOBODY}"):
        open_run(str(s.out))
    os.chown(s.server.address.parent, 0, 0)
    assert s.fake.calls == []


# -- the socket ---------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["a file", "open socket", "open folder"])
def test_a_socket_that_is_not_the_runs_is_refused(served, tmp_path, what) -> None:
    s = served()
    address = Path(control_of(s.out)["socket"])
    if what == "a file":
        plain = tmp_path / "plain"
        plain.write_text("")
        plain.chmod(0o600)
        rename_in_run_json(s.out, socket=str(plain))
        expected = "the run's socket is not a socket (a regular file)"
    elif what == "open socket":
        address.chmod(0o666)
        expected = "the run's socket is open to others (mode 0666); the run makes it 0600"
    else:
        address.parent.chmod(0o777)  # anyone could swap the socket before we connect
        expected = "the run's socket's folder is open to others (mode 0777); the run makes it 0700"
    with pytest.raises(InputError) as refused:
        open_run(str(s.out))
    assert str(refused.value).startswith(f"cannot attach to the run in {s.out}: ")
    assert expected in str(refused.value)


# -- the handshake ------------------------------------------------------------------------

def test_clients_trickling_the_handshake_cannot_lock_the_owner_out(served, monkeypatch) -> None:
    """Every slot taken by a client that sends one byte of its answer just before each read
    would time out: the whole exchange has one deadline, so they are dropped and the owner gets in."""
    monkeypatch.setattr(channel, "HANDSHAKE_TIMEOUT_S", 1.0)
    s = served()
    address = control_of(s.out)["socket"]
    stop = threading.Event()
    dropped = []

    def trickle() -> None:
        # an answer to the challenge that says it is 255 bytes long, sent a byte at a time,
        # each well inside the limit on one read: 78 s in all
        answer = b"\x00\x00\x00\xff" + b"\x00" * 255
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(address)
            try:
                for byte in answer:
                    if stop.wait(0.3):
                        return
                    sock.sendall(bytes([byte]))
            except OSError:  # the server shut us down
                dropped.append(1)

    threads = [threading.Thread(target=trickle, daemon=True) for _ in range(channel.MAX_CLIENTS)]
    for t in threads:
        t.start()
    wait_until(lambda: s.server.clients == channel.MAX_CLIENTS, "every slot taken")
    remote = None
    deadline = time.monotonic() + 60
    while remote is None:
        try:
            remote = open_run(str(s.out))
        except InputError:  # full: the tricklers still hold the slots
            assert time.monotonic() < deadline, "the owner never got in"
            time.sleep(0.1)
    try:
        assert remote.pause(0) == "GPU0 paused"
        wait_until(lambda: len(dropped) == channel.MAX_CLIENTS, "every trickler dropped")
    finally:
        stop.set()
        remote.close()
        for t in threads:
            t.join(10)


# -- the fallback socket folder -----------------------------------------------------------

def long_out(tmp_path: Path) -> Path:
    return tmp_path / ("x" * 60) / ("y" * 60)  # too long for a Unix socket address


def test_the_fallback_socket_folder_is_fresh_private_named_in_run_json_and_removed(served, tmp_path,
                                                                                 monkeypatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    a, b = served(out=long_out(tmp_path / "a")), served(out=long_out(tmp_path / "b"))
    folders = [Path(control_of(s.out)["socket"]).parent for s in (a, b)]
    assert folders[0] != folders[1]  # made fresh for each run: nothing to predict
    for folder in folders:
        assert folder != Path(f"/tmp/lbtui-{os.getuid()}")
        assert folder.name.startswith(FALLBACK_PREFIX) and len(folder.name) > len(FALLBACK_PREFIX) + 4
        st = folder.lstat()
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
    remote = open_run(str(a.out))
    assert isinstance(remote, RemoteRun) and remote.pause(1) == "GPU1 paused"
    remote.close()
    a.close()
    assert not folders[0].exists()  # the run removes what it made


@pytest.mark.parametrize("squat", ["a file", pytest.param("another user's folder", marks=as_root)])
def test_a_squatted_runtime_folder_does_not_turn_attach_off(served, tmp_path, monkeypatch, squat) -> None:
    """$XDG_RUNTIME_DIR that is not private to us (here: open to all) is not used: another user
    may have made its lbtui folder first. The socket goes to a fresh folder instead."""
    runtime = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    try:
        runtime.chmod(0o1777)
        if squat == "a file":
            (runtime / "lbtui").write_text("")
        else:
            (runtime / "lbtui").mkdir(mode=0o700)
            os.chown(runtime / "lbtui", NOBODY, NOBODY)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        s = served(out=long_out(tmp_path))
        assert not Path(control_of(s.out)["socket"]).is_relative_to(runtime)
        remote = open_run(str(s.out))
        assert isinstance(remote, RemoteRun) and len(remote.snapshot().devices) == 4
        remote.close()
        s.close()
    finally:
        for p in (runtime / "lbtui",):
            p.rmdir() if p.is_dir() else p.unlink()
        runtime.rmdir()


# -- read-only, held by the run -----------------------------------------------------------

def test_a_client_that_says_read_only_at_hello_is_held_to_it(served) -> None:
    s = served()
    sock = authed_socket(s.out)
    hello = ask(sock, json.dumps({"op": "hello", "protocol": 1, "read_only": True}).encode())
    assert hello["ok"] and hello["read_only"] is True
    for request in ({"op": "pause", "index": 0}, {"op": "resume", "index": 0}, {"op": "drain", "index": 0},
                    {"op": "stealing", "enabled": False}, {"op": "stop", "now": True}):
        reply = ask(sock, json.dumps(request).encode())
        assert reply == {"ok": False, "type": "CommandError", "error": channel.READ_ONLY_REFUSAL}, reply
    again = ask(sock, json.dumps({"op": "hello", "protocol": 1, "read_only": False}).encode())
    assert again["read_only"] is True  # a later hello does not lift it
    assert not ask(sock, json.dumps({"op": "stop"}).encode())["ok"]
    assert ask(sock, json.dumps({"op": "snapshot"}).encode())["ok"]  # watching works
    assert ask(sock, json.dumps({"op": "detail", "index": 1}).encode())["ok"]
    sock.close()
    assert s.fake.calls == []


def test_attach_read_only_is_refused_by_the_run_not_only_by_itself(served) -> None:
    s = served()
    remote = open_run(str(s.out), read_only=True)
    assert isinstance(remote, RemoteRun) and remote.read_only
    with pytest.raises(CommandError, match="^read-only: "):
        remote.pause(0)  # RemoteRun itself would send it: the run says no
    with pytest.raises(CommandError, match="^read-only: "):
        remote.stop(now=True)
    remote.close()
    other = open_run(str(s.out))  # the owner's other dashboards still steer
    assert other.pause(0) == "GPU0 paused"
    other.close()
    assert s.fake.calls == [("pause", 0)]

