"""The web server of ``lbtui serve``: the page, its script and fonts, one session per websocket.

textual-serve provides the page script (xterm.js and textual's protocol) and
fonts, served here from its installed package. Its own server is not used:
it leaves the process of a tab whose browser vanished running with nobody
reading its output, and on SIGTERM ends before its tabs' processes do. Here
each session ends its attach (``session.py``), and SIGTERM, SIGINT or SIGHUP
end every session before the server stops.

Every request passes the door first (``door.py``: host, token, and for the
websocket its origin). At most ``max_tabs`` tabs are live at once: past that,
the page says so (503) and a websocket is refused before any attach starts.
"""

from __future__ import annotations

import asyncio
import html
import importlib.util
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from string import Template

from aiohttp import web

from .door import Door, notice_page
from .session import HEIGHT, WIDTH, Session

PAGE = Path(__file__).with_name("page.html")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
IDLE_TIMEOUT_S = 30.0  # a tab silent this long (no message, no pong to our pings) is gone
SHUTDOWN_S = 2.0  # aiohttp's wait for handlers once every session has ended
MAX_TABS = 8  # an attach each (~45 MB): plenty for one owner, few enough never to starve the machine
MAX_MESSAGE = 64 * 1024  # a browser message: a key, a paste, a resize; anything bigger is refused


def textual_serve_static() -> Path:
    """textual-serve's static folder (page script, fonts), found without importing its server."""
    spec = importlib.util.find_spec("textual_serve")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("textual-serve is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class WebServer:
    """Serves ``attach_argv`` (with ``attach_env``) to browsers at ``host:port`` until a stop signal."""

    def __init__(self, attach_argv: list[str], attach_env: dict[str, str], *, host: str, port: int,
                 title: str, public_url: str, door: Door, idle_timeout: float = IDLE_TIMEOUT_S,
                 max_tabs: int = MAX_TABS, log: Callable[[str], None] | None = None) -> None:
        self.attach_argv = attach_argv
        self.attach_env = attach_env
        self.host = host
        self.port = port
        self.title = title
        self.public_url = public_url.rstrip("/")
        self.idle_timeout = idle_timeout
        self.door = door
        self.max_tabs = max_tabs
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.sessions: set[Session] = set()
        self._opened = 0
        self._stopping = False

    def page(self, font_size: int = 16) -> str:
        ws_url = "ws" + self.public_url[len("http"):] + "/ws"
        return Template(PAGE.read_text()).substitute(
            title=html.escape(self.title), static=html.escape(self.public_url + "/static/"),
            ws_url=html.escape(ws_url), font_size=font_size)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.door.middleware], client_max_size=MAX_MESSAGE)
        app.add_routes([web.get("/", self.handle_index), web.get("/ws", self.handle_ws),
                        web.static("/static", textual_serve_static())])
        return app

    def full(self) -> web.Response:
        tabs = f"{self.max_tabs} tab{'s' if self.max_tabs != 1 else ''}"
        return notice_page(503, "lbtui serve: all tabs in use",
                           f"lbtui serve: this dashboard is open in {tabs} already, as many as it serves "
                           "(--max-tabs). Close one, then reload this page.")

    async def handle_index(self, request: web.Request) -> web.Response:
        if len(self.sessions) >= self.max_tabs:
            return self.full()
        size = _int(request.query.get("fontsize"), 16, 6, 48)
        return web.Response(text=self.page(size), content_type="text/html",
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": "frame-ancestors 'none'"})

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        if not self.door.origin_allowed(request):
            self.log(f"lbtui serve: refused a websocket from another site (Origin {request.headers['Origin']!r})")
            return notice_page(403, "lbtui serve: forbidden", "lbtui serve: forbidden: another site's page")
        if self._stopping:
            return notice_page(503, "lbtui serve: stopping", "lbtui serve is stopping")
        if len(self.sessions) >= self.max_tabs:
            self.log(f"lbtui serve: refused a tab: {len(self.sessions)} open, as many as --max-tabs")
            return self.full()
        # autoping off: pongs reach the session, which counts them as signs of life
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_MESSAGE)
        self._opened += 1
        session = Session(self._opened, self.attach_argv, self.attach_env, ws,
                          idle_timeout=self.idle_timeout, log=self.log)
        self.sessions.add(session)  # counted before the first await: the cap holds however fast tabs come
        try:
            await ws.prepare(request)
            await session.start(_int(request.query.get("width"), *WIDTH), _int(request.query.get("height"), *HEIGHT))
            await session.run()
        except asyncio.CancelledError:
            await asyncio.shield(session.end("lbtui serve stopped"))
            raise
        except ConnectionError:
            pass  # the browser left while its websocket opened
        except OSError as exc:  # the attach could not start (no such interpreter, out of processes)
            self.log(f"lbtui serve: tab {session.number} could not start lbtui attach: {exc}")
        finally:
            self.sessions.discard(session)
        return ws

    async def end_all(self, reason: str) -> None:
        self._stopping = True
        await asyncio.gather(*(s.end(reason) for s in list(self.sessions)), return_exceptions=True)

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Until SIGTERM, SIGINT or SIGHUP; then every tab's attach is ended. OSError if it cannot bind."""
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        got: list[str] = []

        def stop_on(sig: signal.Signals) -> None:
            got.append(sig.name)
            stop.set()

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop_on, sig)
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            if ready is not None:
                ready()
            await stop.wait()
            live = len(self.sessions)
            await self.end_all(f"lbtui serve got {got[0]}")
            self.log(f"lbtui serve: {got[0]}: stopped ({live} tab{'s' if live != 1 else ''} ended)")
        finally:
            await self.end_all("lbtui serve stopped")
            await runner.cleanup()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(text))) if text is not None else default
    except ValueError:
        return default
