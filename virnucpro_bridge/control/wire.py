"""Snapshots as plain JSON data, and back, by field name.

The control channel sends the frozen views of ``snapshot.py`` between two
processes that may run different lbtui versions. Encoding walks any dataclass
generically, so a field added to a view travels without touching this module;
decoding rebuilds by field name from the class's own annotations, ignoring
fields it does not know (a newer run) and filling fields it does not receive
(an older run) with their default, else an empty value of their type.
JSON, not pickle: a peer can only ever send data, never code.

Messages travel as frames (``read_frame``/``frame``, at the end: a length, then
the bytes), on both ends, so that a message too big or not JSON is answered
with an error and the connection goes on.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
import types
import typing
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SCHEMA = 1  # bump when a field changes meaning (adding fields needs no bump)

T = TypeVar("T", bound="DataclassInstance")


def to_plain(obj: Any) -> Any:
    """Dataclasses become dicts and tuples lists, recursively; the rest is left as is."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj


def from_plain(cls: type[T], data: Any) -> T:
    """Rebuild dataclass ``cls`` from ``to_plain``'s output (of this or another version)."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in data:
            kwargs[f.name] = _build(hints[f.name], data[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs[f.name] = _empty(hints[f.name])
    return cls(**kwargs)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_args(tp: Any) -> tuple[Any, ...] | None:
    """The non-None members of a union (``X | None``), or None if ``tp`` is no union."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(tp) if a is not type(None))
    return None


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    members = _optional_args(tp)
    if members is not None:
        return _build(members[0], value) if len(members) == 1 else value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_plain(tp, value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        if args:
            return tuple(_build(a, v) for a, v in zip(args, value, strict=False))
        return tuple(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _empty(tp: Any) -> Any:
    """What a field an older peer did not send reads as."""
    if _optional_args(tp) is not None:
        return None
    origin = typing.get_origin(tp) or tp
    return {int: 0, float: 0.0, str: "", bool: False, tuple: (), dict: {}, list: []}.get(origin)


# -- frames ------------------------------------------------------------------------
# One message is one frame: a 4-byte big-endian unsigned length, then that many bytes
# (JSON). Both ends read and write frames with these functions on a plain socket, so
# a reader can skip a frame over its limit and answer, instead of losing the stream.

FRAME_HEADER = struct.Struct("!I")
FRAME_MAX = (1 << 32) - 1
READ_CHUNK = 1 << 16


class FrameTooBig(Exception):
    """A frame over the reader's limit; ``skipped`` says whether its body was read
    past (the connection can go on) or not (too big to skip: close it)."""

    def __init__(self, size: int, skipped: bool) -> None:
        super().__init__(f"a {size:,}-byte message (the limit is smaller)")
        self.size = size
        self.skipped = skipped


def _read_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes; EOFError if the peer closes first."""
    parts, left = [], n
    while left:
        chunk = sock.recv(min(left, READ_CHUNK))
        if not chunk:
            raise EOFError("the peer closed the connection")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _skip(sock: socket.socket, n: int) -> None:
    while n:
        chunk = sock.recv(min(n, READ_CHUNK))
        if not chunk:
            raise EOFError("the peer closed the connection")
        n -= len(chunk)


def read_frame(sock: socket.socket, limit: int, skip_limit: int) -> bytes:
    """The next frame's body. Over ``limit`` bytes: FrameTooBig, after reading past
    the body if it is at most ``skip_limit`` bytes. EOFError when the peer is gone."""
    (size,) = FRAME_HEADER.unpack(_read_exact(sock, FRAME_HEADER.size))
    if size > limit:
        if size > skip_limit:
            raise FrameTooBig(size, skipped=False)
        _skip(sock, size)
        raise FrameTooBig(size, skipped=True)
    return _read_exact(sock, size)


def frame(body: bytes) -> bytes:
    """``body`` as one frame (what ``read_frame`` reads); ValueError over FRAME_MAX bytes."""
    if len(body) > FRAME_MAX:
        raise ValueError(f"a {len(body):,}-byte message: a frame holds {FRAME_MAX:,} at most")
    return FRAME_HEADER.pack(len(body)) + body
