"""``lbtui serve OUT``: the dashboard of a run in a web browser (textual-serve).

Each browser tab starts its own ``lbtui attach OUT`` under textual's web
driver, from this checkout's Python and lbtui, and talks to it over a
websocket. Anyone who can reach the port gets that dashboard, with the
rights of the user running ``lbtui serve``: hence localhost by default.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import sys
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")

EXAMPLES = """\
examples:
  lbtui serve lbtui-results                        (then open http://127.0.0.1:8000)
  lbtui serve runs/today --port 8765 --read-only
  lbtui serve runs/today --host 0.0.0.0 --read-only   (other machines: anyone who reaches
                                                      the port can watch the run)
"""


def register(sub: argparse._SubParsersAction) -> None:
    from .attach_cmd import add_read_only

    p = sub.add_parser(
        "serve",
        help="show a run's dashboard in a web browser",
        description="Serve `lbtui attach OUT` to web browsers (each tab gets its own dashboard). "
        "Listens on localhost unless --host says otherwise.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="the run's --out folder")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but localhost lets other machines in "
                   "[default: %(default)s]")
    p.add_argument("--port", type=_port, default=8000, help="TCP port [default: %(default)s]")
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


def attach_command(out: Path, read_only: bool) -> str:
    """The shell command each browser tab runs: this interpreter, this checkout's lbtui."""
    root = Path(__file__).resolve().parents[1]
    argv = ["env", f"PYTHONPATH={root}", sys.executable, "-m", "lbtui.cli", "attach", str(out)]
    if read_only:
        argv.append("--read-only")
    return shlex.join(argv)


def public_url(host: str, port: int) -> str:
    """What the page's websocket connects back to: a wildcard address is no place to connect to."""
    name = socket.getfqdn() if host in WILDCARDS else host
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def main(args: argparse.Namespace) -> int:
    from .remote import RemoteRun, open_run

    out = Path(args.out).expanduser().resolve()
    probe = open_run(args.out)  # refuse now, in one line, what every tab would refuse later
    if isinstance(probe, RemoteRun):
        probe.close()
    if args.host not in LOCAL_HOSTS:
        rights = "watch" if args.read_only else "watch and steer (pause, drain, stop)"
        print(f"lbtui: warning: serving on {args.host}:{args.port}: anyone who can reach this port can "
              f"{rights} the run in {out}" + ("" if args.read_only else "; --read-only lets them only watch"),
              file=sys.stderr)
    try:
        from textual_serve.server import Server
    except ImportError:
        print("lbtui: error: lbtui serve needs textual-serve: pip install textual-serve", file=sys.stderr)
        return 2
    title = f"lbtui · {out.name}" + (" (read-only)" if args.read_only else "")
    server = Server(attach_command(out, args.read_only), host=args.host, port=args.port, title=title,
                    public_url=public_url(args.host, args.port))
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the address is not ours
        print(f"lbtui: error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
