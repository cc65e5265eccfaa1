"""Who may come in to ``lbtui serve``: its token, and the checks jupyter_server makes.

    any request ──▶ Host one this server was started for?   no: 403 (DNS rebinding)
                    token right? (?token=, the cookie, or      no: 403
                      an ``Authorization: token ...`` header)
                    ``/?token=...`` right: the cookie is set and the browser sent to
                      ``/`` (the token leaves the address bar and the history)
    /ws          ──▶ Origin absent (no browser) or this very   no: 403 (another site's page
                      server's own                                  in the owner's browser)

The token is 32 random bytes made at start (or read from ``--token-file``) and
shown only in the URL serve prints. The cookie holds an HMAC of it, named for
the port (cookies ignore ports: two serves on one machine keep their own), and
is HttpOnly and SameSite=Strict. Every comparison is ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import os
import secrets
import socket
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

TOKEN_BYTES = 32  # as jupyter_server's: guessing it is out of the question
TOKEN_MIN = 16  # a --token-file token shorter than this is too easy to guess
TOKEN_FILE_MAX = 4096  # a token file is one short line; read no more of whatever it is
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")  # URL-safe as is
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


class TokenFileError(Exception):
    """A --token-file that cannot be trusted or used (one line: which, and why)."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in ``path``: a regular file of this user's, closed to others (as an ssh key),
    holding one line of at least TOKEN_MIN URL-safe characters."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise TokenFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TokenFileError(f"{path}: not a regular file")
        if st.st_uid != os.getuid():
            raise TokenFileError(f"{path}: belongs to uid {st.st_uid}, not to you")
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise TokenFileError(f"{path}: others may read it (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")
        data = os.read(fd, TOKEN_FILE_MAX + 1)
    finally:
        os.close(fd)
    token = data.decode("ascii", "replace").strip()
    if len(data) > TOKEN_FILE_MAX or not set(token) <= TOKEN_CHARS or len(token) < TOKEN_MIN:
        raise TokenFileError(f"{path}: expected one line of at least {TOKEN_MIN} characters from "
                             "A-Z a-z 0-9 - . _ ~ (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
    return token


def host_names(host: str, extra: Iterable[str] = ()) -> set[str]:
    """The names a request's Host header may carry: localhost, the bound address, ``extra``
    (--allow-host); on a wildcard address also this machine's names and addresses."""
    names = {*LOCAL_NAMES, host, *extra}
    if host in WILDCARDS:
        names |= {socket.gethostname(), socket.getfqdn()}
        try:
            import psutil

            names |= {a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs
                      if a.family in (socket.AF_INET, socket.AF_INET6)}
        except (ImportError, OSError):
            pass
    return {_name(n) for n in names if n not in WILDCARDS}


def _name(host: str) -> str:
    return host.strip().rstrip(".").lower()


def host_of(header: str | None) -> str | None:
    """The name in a Host header ('[::1]:8000' -> '::1', 'LocalHost.:80' -> 'localhost')."""
    if not header:
        return None
    try:
        name = urlsplit("//" + header).hostname
    except ValueError:
        return None
    return _name(name) if name else None


class Door:
    """The checks of one server (its token, port and host names); see the module docstring."""

    def __init__(self, token: str, *, port: int, hosts: Iterable[str]) -> None:
        self.token = token
        self.hosts = {_name(h) for h in hosts}
        self.cookie_name = f"lbtui-serve-{port}"
        self.cookie_value = hmac.new(token.encode(), b"lbtui serve cookie", hashlib.sha256).hexdigest()

    def host_allowed(self, request: web.Request) -> bool:
        name = host_of(request.headers.get("Host"))
        if name is None:
            return False
        try:
            if ipaddress.ip_address(name).is_loopback:
                return True  # 127.0.0.2, ::ffff:127.0.0.1: this machine, never a rebound name
        except ValueError:
            pass
        return name in self.hosts

    def _right(self, given: str | None, expected: str) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), expected.encode())

    def authorized(self, request: web.Request) -> bool:
        """The token in the query or an ``Authorization: token`` header, or the cookie.
        A wrong token in the query is refused even with a good cookie: it is not the owner's link."""
        if "token" in request.query:
            return self._right(request.query.get("token"), self.token)
        auth = request.headers.get("Authorization", "")
        if auth[:6].lower() == "token ":
            return self._right(auth[6:].strip(), self.token)
        return self._right(request.cookies.get(self.cookie_name), self.cookie_value)

    def origin_allowed(self, request: web.Request) -> bool:
        """A browser always sends Origin with a websocket: it must be this server, as the
        browser reached it. No Origin: no browser, and no page can have sent it."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        try:
            parts = urlsplit(origin)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False  # "null": a sandboxed frame, a file:// page
        ours = urlsplit("//" + request.headers.get("Host", ""))
        default = 443 if parts.scheme == "https" else 80
        try:
            return (_name(parts.hostname) == _name(ours.hostname or "")
                    and (port or default) == (ours.port or default))
        except ValueError:
            return False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.host_allowed(request):
            host = request.headers.get("Host", "")
            return forbidden(f"this server does not answer to the host name {host!r}. Use the address "
                             "lbtui serve printed, or start it with --allow-host NAME.")
        if not self.authorized(request):
            return forbidden("this dashboard needs its token. Open the address lbtui serve printed "
                             "(it ends in ?token=...).")
        if "token" in request.query and request.method == "GET" and request.path == "/":
            query = urlencode([(k, v) for k, v in request.query.items() if k != "token"])
            reply = web.Response(status=302, headers={"Location": "/" + ("?" + query if query else ""),
                                                      "Cache-Control": "no-store"})
            reply.set_cookie(self.cookie_name, self.cookie_value, httponly=True, samesite="Strict", path="/")
            return reply
        return await handler(request)


def notice_page(status: int, title: str, text: str) -> web.Response:
    """A small page of its own (nothing loaded from anywhere): what happened and what to do."""
    body = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<style>body{margin:0;height:100vh;display:flex;align-items:center;justify-content:center;'
            'background:#101418;color:#d8dee9;font:15px monospace}p{max-width:40em;line-height:1.5}</style>'
            f"</head><body><p>{html.escape(text)}</p></body></html>")
    return web.Response(status=status, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def forbidden(why: str) -> web.Response:
    return notice_page(403, "lbtui serve: forbidden", f"lbtui serve: forbidden: {why}")


def token_url(public_url: str, token: str | None) -> str:
    """What serve prints: the page's address, with its token (Jupyter's way) unless it came from a file."""
    return public_url.rstrip("/") + "/" + (f"?token={token}" if token else "")


def read_token(path: Path | None) -> tuple[str, bool]:
    """The token, and whether it was made here (and so may be printed)."""
    return (read_token_file(path), False) if path is not None else (new_token(), True)
