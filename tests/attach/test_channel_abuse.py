"""The channel against clients that misbehave: silent or garbled handshakes, too many
clients, requests that are not JSON, too big, out of order or of the wrong shape.
Each gets an error reply (or its own connection closed), and everyone else is served."""

from __future__ import annotations

import json
import os
import random
import socket
import struct

import pytest

from lbtui.remote import RemoteRun, open_run
from virnucpro_bridge.control import channel
from virnucpro_bridge.control.wire import FrameTooBig, frame, read_frame
from virnucpro_bridge.errors import InputError

from .conftest import ask, authed_socket, wait_until


def raw_connect(out) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(json.loads((out / "run.json").read_text())["control"]["socket"])
    return sock


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset, when it closes on bytes it never read, counts)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


@pytest.mark.parametrize("says", [b"", b"\x00\x00\x00\x05hello garbage", random.Random(7).randbytes(300)],
                         ids=["silent", "garbled", "random"])
def test_a_half_open_handshake_does_not_hold_up_a_normal_attach(served, monkeypatch, says) -> None:
    monkeypatch.setattr(channel, "HANDSHAKE_TIMEOUT_S", 1.0)
    s = served()
    stuck = raw_connect(s.out)  # connects, then says nothing (or nonsense) in place of the key
    stuck.sendall(says)
    remote = open_run(str(s.out))  # attaches while the other is still in its handshake
    assert isinstance(remote, RemoteRun) and len(remote.snapshot().devices) == 4
    read_to_eof(stuck)  # the server gives up on it (after HANDSHAKE_TIMEOUT_S when silent)
    stuck.close()
    wait_until(lambda: s.server.clients == 1, "only the normal client left")
    assert remote.pause(0) == "GPU0 paused"
    remote.close()


def test_past_max_clients_one_is_refused_in_one_line_and_the_rest_are_served(served, monkeypatch) -> None:
    monkeypatch.setattr(channel, "MAX_CLIENTS", 2)
    s = served()
    a, b = open_run(str(s.out)), open_run(str(s.out))
    with pytest.raises(InputError, match="closed the connection"):
        open_run(str(s.out))
    assert a.snapshot().devices and b.snapshot().devices
    a.close()
    wait_until(lambda: s.server.clients == 1, "the first client gone")
    c = open_run(str(s.out))
    assert c.snapshot().devices
    b.close()
    c.close()


def test_requests_before_hello_and_of_the_wrong_shape_get_errors_and_the_connection_goes_on(served) -> None:
    s = served()
    sock = authed_socket(s.out)
    assert ask(sock, b'{"op": "snapshot", "id": 1}') == {
        "ok": False, "type": "ProtocolError", "error": "'snapshot' before hello: say hello first", "id": 1}
    assert ask(sock, b'{"op": "pause", "index": 0}')["error"].endswith("say hello first")
    assert s.fake.calls == []  # nothing reached the run before hello
    hello = ask(sock, b'{"op": "hello", "protocol": 1, "id": "h"}')
    assert hello["ok"] and hello["id"] == "h" and hello["pid"] == os.getpid()
    bad = [b"\xff\xfe not utf-8", b"not json", b"[1, 2]", b"null", b"[" * 100_000 + b"]" * 100_000,
           b'{"op": "explode"}', b'{"op": 7}', b'{"op": "pause"}', b'{"op": "pause", "index": "0"}',
           b'{"op": "pause", "index": true}', b'{"op": "pause", "index": 1e400}', b'{"op": "stealing"}',
           b'{"op": "stop", "now": "yes"}', b'{"op": "detail", "index": 99}']
    for body in bad:
        reply = ask(sock, body)
        assert reply["ok"] is False and reply["type"] in ("ProtocolError", "IndexError", "CommandError"), (body, reply)
    assert s.fake.calls == []  # none of those reached the run
    assert ask(sock, b'{"op": "pause", "index": 1, "id": 9}') == {"ok": True, "message": "GPU1 paused", "id": 9}
    snap = ask(sock, b'{"op": "snapshot", "id": [1]}')  # an id that is not ours to echo is left out
    assert snap["ok"] and "id" not in snap and snap["snapshot"]["devices"][1]["paused"]
    sock.close()


def test_an_oversized_request_is_read_past_and_answered(served) -> None:
    s = served()
    sock = authed_socket(s.out)
    ask(sock, b'{"op": "hello"}')
    reply = ask(sock, b"x" * (channel.MAX_REQUEST + 1))
    assert reply["type"] == "ProtocolError" and "too big" in reply["error"]
    assert ask(sock, b'{"op": "snapshot"}')["ok"]  # the stream is still in step
    sock.close()


@pytest.mark.parametrize("header", [struct.pack("!I", channel.SKIP_MAX + 1), struct.pack("!I", (1 << 32) - 1)])
def test_a_frame_too_big_to_skip_ends_only_that_connection(served, header) -> None:
    s = served()
    other = open_run(str(s.out))
    sock = authed_socket(s.out)
    ask(sock, b'{"op": "hello"}')
    sock.sendall(header)
    reply = json.loads(read_frame(sock, 1 << 20, 0))
    assert reply["ok"] is False and reply["type"] == "ProtocolError"
    assert read_to_eof(sock) == b""  # then closed: the stream cannot be followed
    sock.close()
    assert other.snapshot().devices  # everyone else is served
    other.close()


def test_clients_close_together_share_one_snapshot_and_a_command_refreshes_it(served, monkeypatch) -> None:
    monkeypatch.setattr(channel, "SNAPSHOT_SHARE_S", 3600.0)  # "close together": always, for this test
    s = served()
    taken = []
    real = s.fake.snapshot
    monkeypatch.setattr(s.fake, "snapshot", lambda: taken.append(1) or real())
    a, b = open_run(str(s.out)), open_run(str(s.out))
    a.snapshot()
    b.snapshot()
    assert len(taken) == 1
    a.pause(2)
    assert b.snapshot().devices[2].paused and len(taken) == 2  # not the shared one from before the pause
    a.close()
    b.close()


def test_frames_read_whole_skip_oversized_and_refuse_what_cannot_be_skipped() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(frame(b"abc") + frame(b"y" * 100) + frame(b"ok") + struct.pack("!I", 1001))
        assert read_frame(right, 10, 1000) == b"abc"
        with pytest.raises(FrameTooBig) as too_big:
            read_frame(right, 10, 1000)
        assert too_big.value.skipped and too_big.value.size == 100
        assert read_frame(right, 10, 1000) == b"ok"
        with pytest.raises(FrameTooBig) as too_big:
            read_frame(right, 10, 1000)
        assert not too_big.value.skipped and too_big.value.size == 1001
        left.close()
        with pytest.raises(EOFError):
            read_frame(right, 10, 1000)
