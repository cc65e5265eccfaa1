"""One file over HTTP with the standard library: resumable, checked, renamed into place whole.

    GET url (Range: bytes=<have>- when DIR/<dest>.part exists) ─► append to <dest>.part
      cut connection: retried from where it stopped (Range), ``retries`` times
    whole: size and checksum against what the source publishes ─► rename to <dest>
      mismatch: <dest>.part removed, FetchError; <dest> itself is never half-written

What a source publishes, read from its responses (redirects included, since
huggingface.co answers an LFS file with a redirect that carries its headers):
the size (Content-Length, Content-Range, X-Linked-Size) and, from a Hugging
Face endpoint only, the checksum (X-Linked-Etag or ETag: a sha256 for an LFS
file, a git blob sha1 otherwise). ``<dest>.part.json`` keeps the validator
(ETag or Last-Modified) of the partial download, so a resumed request says
``If-Range`` and a file changed at the source is fetched whole again.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from .... import __version__
from ....errors import LbtuiError
from .record import Hasher
from .sources import ModelFile

BLOCK = 1 << 20  # bytes per read and write
RETRY_PAUSES_S = (1.0, 3.0, 10.0)  # between tries after a cut connection
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE = re.compile(r"bytes\s+\*/(\d+)")
_HEX40, _HEX64 = re.compile(r"^[0-9a-f]{40}$"), re.compile(r"^[0-9a-f]{64}$")

Progress = Callable[[str, int, "int | None"], None]  # (phase "get" | "check", bytes done, total)


class FetchError(LbtuiError):
    """A file could not be fetched or did not check out: one line, exit 2."""


class Unreachable(FetchError):
    """No answer from the host at all (refused, no route, DNS, timeout)."""


class _Cut(Exception):
    """The connection ended before the whole body came."""


@dataclass
class Published:
    """What the source said about the file."""

    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None
    commit: str | None = None  # X-Repo-Commit: the commit a Hugging Face branch name stands for
    validator: str | None = None  # ETag or Last-Modified of the body, for If-Range
    whose: str = "the Hugging Face ETag"  # where the checksum came from, for messages and the record


class _Hops(urllib.request.HTTPRedirectHandler):
    """Keeps the headers of every redirect: Hugging Face puts an LFS file's checksum there."""

    def __init__(self) -> None:
        self.headers: list[http.client.HTTPMessage] = []

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        self.headers.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _read_state(sidecar: Path) -> dict[str, Any]:
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _published(file: ModelFile, hops: list[http.client.HTTPMessage], final: Message,
               total: int | None) -> Published:
    pub = Published(size=total)
    # the Hugging Face answer itself: past any plain redirect before it (a renamed repository)
    first = next((h for h in [*hops, final] if h.get("X-Linked-Etag") or h.get("X-Repo-Commit")), final)
    if file.hf:
        linked_size = first.get("X-Linked-Size")
        if linked_size and linked_size.isdigit():
            pub.size = pub.size if pub.size is not None else int(linked_size)
            if total is not None and int(linked_size) != total:
                raise FetchError(f"{file.dest}: the server sent {total:,} bytes but says the file has "
                                 f"{int(linked_size):,} (X-Linked-Size); not kept")
        # A plain ETag is a checksum only from a Hugging Face endpoint (it says X-Repo-Commit):
        # another server's ETag is whatever that server makes it.
        hub = first.get("X-Linked-Etag") or (first.get("ETag") if first.get("X-Repo-Commit") else None)
        etag = (hub or "").removeprefix("W/").strip('"').lower()
        if _HEX64.match(etag):
            pub.sha256 = etag
        elif _HEX40.match(etag):
            pub.git_sha1 = etag
        pub.commit = first.get("X-Repo-Commit")
    pub.validator = final.get("ETag") or final.get("Last-Modified")
    return pub


def _open(url: str, have: int, validator: str | None, timeout: float
          ) -> tuple[http.client.HTTPResponse | None, list[http.client.HTTPMessage], Message, int | None]:
    """(response or None, redirects' headers, final headers, offset the body starts at). The
    response is None for 416 (nothing left to send: the offset is then the file's size)."""
    hops = _Hops()
    opener = urllib.request.build_opener(hops)  # proxies from the environment, as urllib always does
    headers = {"User-Agent": f"lbtui/{__version__} (models fetch)", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if validator:
            headers["If-Range"] = validator
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            m = _UNSATISFIABLE.match(exc.headers.get("Content-Range") or "")
            return None, hops.headers, exc.headers, (int(m.group(1)) if m else None)
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    if resp.status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range") or "")
        if not m or int(m.group(1)) != have:
            resp.close()
            raise _Cut(f"the server answered a resume with another range ({resp.headers.get('Content-Range')})")
        return resp, hops.headers, resp.headers, have
    return resp, hops.headers, resp.headers, 0


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer (timed out)"
    text = getattr(reason, "strerror", None) or str(reason)
    return text or type(reason).__name__


def _get_once(file: ModelFile, url: str, part: Path, timeout: float, progress: Progress) -> Published:
    """One request: append what comes to ``part``. _Cut when the body stops short."""
    sidecar = part.with_name(part.name + ".json")
    state = _read_state(sidecar) if part.exists() else {}
    have = part.stat().st_size if part.exists() else 0
    try:
        resp, hops, final, start = _open(url, have, state.get("validator"), timeout)
    except FetchError:
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"cannot reach {_host(url)}: {_reason(exc)}") from None
    if resp is None:  # 416: the part already holds the whole file (or more)
        if start is not None and have == start:
            progress("get", have, have)
            pub = _published(file, hops, final, have)
            pub.validator = state.get("validator")
            return pub
        part.unlink()
        raise _Cut("the partial download is longer than the file; starting again")
    assert start is not None  # only a 416 (no response) can leave the offset unknown
    with resp:
        length = resp.headers.get("Content-Length")
        body = int(length) if length and length.isdigit() else None
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range") or "")
        total = int(m.group(3)) if m and m.group(3) != "*" else (body if resp.status == 200 else None)
        pub = _published(file, hops, final, total)
        _room_for(file, part, (total - start) if total is not None else None)
        sidecar.write_text(json.dumps({"url": url, "validator": pub.validator, "total": total}), encoding="utf-8")
        done = start
        with open(part, "r+b" if start else "wb") as out:
            out.seek(start)
            out.truncate()
            progress("get", done, total)
            while True:
                try:
                    block = resp.read(BLOCK)
                except (OSError, http.client.HTTPException) as exc:  # the network's, not the disk's
                    raise _Cut(_reason(exc)) from None
                if not block:
                    break
                out.write(block)  # a disk error propagates as itself
                done += len(block)
                progress("get", done, total)
    if total is not None and done < total:
        raise _Cut(f"connection closed at {done:,} of {total:,} bytes")
    return pub


def _room_for(file: ModelFile, part: Path, needed: int | None) -> None:
    free = shutil.disk_usage(part.parent).free
    if needed is not None and needed > free:
        raise FetchError(f"{file.dest}: needs {needed / 1e9:.2f} GB more, {free / 1e9:.2f} GB free on "
                         f"{part.parent}; free space and run the same command again")


def fetch_file(file: ModelFile, url: str, dest: Path, *, timeout: float = 20.0, retries: int = 3,
               progress: Progress | None = None, pause: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Download ``url`` to ``dest`` through ``dest``.part and check it; the record entry."""
    progress = progress or (lambda *_: None)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        try:
            pub = _get_once(file, url, part, timeout, progress)
            break
        except _Cut as cut:
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise FetchError(f"{file.dest}: download cut ({cut}); {have:,} bytes kept in {part}: run the "
                                 "same command again to resume") from None
            pause(RETRY_PAUSES_S[min(attempt, len(RETRY_PAUSES_S) - 1)])
    entry = check(file, part, pub, progress)
    entry["source"] = url
    with open(part, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, dest)
    with contextlib.suppress(FileNotFoundError):
        part.with_name(part.name + ".json").unlink()
    entry["commit"] = pub.commit
    return entry


def check(file: ModelFile, path: Path, pub: Published, progress: Progress | None = None) -> dict[str, Any]:
    """``path`` against the pins and what the source published; removes it and raises on a
    mismatch. Returns the record entry (size, sha256, what it was checked against)."""
    size = path.stat().st_size
    hasher = Hasher(size)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("check", done, size)

    hasher.feed(path, step)
    sha256, git_sha1 = hasher.sha256.hexdigest(), hasher.git_sha1()
    checked = []
    wants = [("size", file.size, size, "lbtui's pin"), ("size", pub.size, size, "the server"),
             ("sha256", file.sha256, sha256, "lbtui's pin"), ("git blob id", file.git_sha1, git_sha1, "lbtui's pin"),
             ("sha256", pub.sha256, sha256, pub.whose), ("git blob id", pub.git_sha1, git_sha1, pub.whose)]
    for what, want, got, whose in wants:
        if want is None:
            continue
        if want != got:
            _discard(path)
            shown, expected = (f"{got:,} bytes", f"{want:,} bytes") if what == "size" \
                else (f"{str(got)[:12]}...", f"{str(want)[:12]}...")
            raise FetchError(f"{file.dest}: {what} {shown} does not match {expected} from {whose}; "
                             f"the download was discarded (damaged, or a different file): run the same "
                             "command again, or check the mirror")
        checked.append(f"{what} ({whose})")
    return {"size": size, "sha256": sha256, "checked": ", ".join(checked) or "nothing (no size or checksum published)"}


def _discard(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".json")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
