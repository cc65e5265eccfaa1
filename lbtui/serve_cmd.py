"""``lbtui serve OUT``: the dashboard of a run in a web browser (``lbtui/web/``).

Each browser tab starts its own ``lbtui attach OUT`` under textual's web
driver, from this checkout's Python and lbtui, and talks to it over a
websocket; the tab's attach ends when the tab closes, when the browser goes
silent for ``--idle-timeout`` seconds, or when serve gets SIGTERM, SIGINT or
SIGHUP. Only the owner gets in: a random token, printed in the URL serve shows
(as Jupyter does), is required on every request; so are a Host this server was
started for and, on the websocket, its own Origin (``web/door.py``). Whoever
has the token gets the dashboard with the rights of the user running serve:
``--read-only`` makes the run itself refuse every command from its tabs.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")

EXAMPLES = """\
examples:
  lbtui serve lbtui-results         (then open the address it prints: http://127.0.0.1:8000/?token=...)
  lbtui serve runs/today --port 8765 --read-only
  lbtui serve runs/today --token-file ~/.lbtui-token     (the same token every time; chmod 600)
  ssh -L 8000:127.0.0.1:8000 cluster-node                (from your laptop, rather than --host 0.0.0.0)

Only the address with its token gets in (then a cookie keeps the tab in); requests for
other host names (DNS rebinding) and websockets from other sites' pages get 403. Each tab
runs its own `lbtui attach OUT`, at most --max-tabs at once; it ends when the tab closes,
when the browser has sent nothing (not even a pong) for --idle-timeout seconds, and when
serve gets SIGTERM, SIGINT or SIGHUP. The page loads nothing from outside this machine.
See docs/security.md.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .attach_cmd import add_read_only

    p = sub.add_parser(
        "serve",
        help="show a run's dashboard in a web browser",
        description="Serve `lbtui attach OUT` to web browsers (each tab gets its own dashboard). "
        "Listens on localhost unless --host says otherwise; only the address it prints, with its "
        "token, gets in.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="the run's --out folder")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but localhost lets other machines reach it (they "
                   "still need the token; plain HTTP) [default: %(default)s]")
    p.add_argument("--port", type=_port, default=8000, help="TCP port [default: %(default)s]")
    p.add_argument("--idle-timeout", type=_seconds, default=30.0, metavar="S",
                   help="end a tab's dashboard when its browser has been silent this long (no "
                   "message, no pong) [default: 30]")
    p.add_argument("--token-file", metavar="FILE",
                   help="read the token from FILE (one line; yours, mode 0600) instead of making a random "
                   "one; the address printed then leaves it out")
    p.add_argument("--max-tabs", type=_tabs, default=8, metavar="N",
                   help="tabs open at once (one lbtui attach each); more get a page saying so [default: 8]")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer to this host name (a reverse proxy's); localhost, the --host address "
                   "and, on 0.0.0.0, this machine's names are always answered")
    add_read_only(p)
    p.set_defaults(handler=main)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"expected a TCP port (1-65535), got {text!r}")
    return port


def _tabs(text: str) -> int:
    try:
        tabs = int(text)
    except ValueError:
        tabs = 0
    if not 0 < tabs <= 256:
        raise argparse.ArgumentTypeError(f"expected a number of tabs (1-256), got {text!r}")
    return tabs


def _seconds(text: str) -> float:
    from .argtypes import positive_float

    return positive_float(text)


def attach_argv(out: Path, read_only: bool) -> list[str]:
    """What each browser tab runs: this interpreter's lbtui (PYTHONPATH: ``checkout_root()``)."""
    argv = [sys.executable, "-m", "lbtui.cli", "attach", str(out)]
    if read_only:
        argv.append("--read-only")
    return argv


def checkout_root() -> str:
    return str(Path(__file__).resolve().parents[1])


def public_url(host: str, port: int) -> str:
    """What the page's websocket connects back to: a wildcard address is no place to connect to."""
    name = socket.getfqdn() if host in WILDCARDS else host
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def main(args: argparse.Namespace) -> int:
    import asyncio

    from .remote import RemoteRun, open_run

    out = Path(args.out).expanduser().resolve()
    # refuse now, in one line, what every tab would refuse later
    probe = open_run(args.out, read_only=args.read_only)
    if isinstance(probe, RemoteRun):
        probe.close()
    try:
        from .web.door import Door, TokenFileError, host_names, read_token, token_url
        from .web.server import WebServer
        from .web.session import attach_env
    except ImportError as exc:
        print(f"lbtui: error: lbtui serve needs aiohttp and textual-serve ({exc}): "
              "pip install textual-serve", file=sys.stderr)
        return 2
    try:
        token, made = read_token(Path(args.token_file).expanduser() if args.token_file else None)
    except TokenFileError as exc:
        print(f"lbtui: error: --token-file {exc}", file=sys.stderr)
        return 2
    if args.host not in LOCAL_HOSTS:
        rights = "watch" if args.read_only else "watch and steer (pause, drain, stop)"
        print(f"lbtui: warning: serving on {args.host}:{args.port} over plain HTTP: whoever has the address "
              f"with its token can {rights} the run in {out}, and anyone who can see the network traffic can "
              "read the token; prefer ssh -L to a localhost serve", file=sys.stderr)
    title = f"lbtui · {out.name}" + (" (read-only)" if args.read_only else "")
    url = public_url(args.host, args.port)
    door = Door(token, port=args.port, hosts=host_names(args.host, args.allow_host))
    shown = token_url(url, token if made else None) + ("" if made else f"  (its token is in {args.token_file})")
    server = WebServer(attach_argv(out, args.read_only), attach_env(checkout_root()), host=args.host,
                       port=args.port, title=title, public_url=url, door=door, idle_timeout=args.idle_timeout,
                       max_tabs=args.max_tabs)
    try:
        asyncio.run(server.serve(ready=lambda: print(f"lbtui serve: the run in {out} on {shown} "
                                                     "(Ctrl+C stops)", flush=True)))
    except OSError as exc:  # the port is taken, or the address is not ours
        print(f"lbtui: error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
