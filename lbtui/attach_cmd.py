"""``lbtui attach OUT [--read-only]``: the dashboard of a run in another process."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lifeline import Lifeline

EXAMPLES = """\
examples:
  lbtui run --headless inputs/ &      then:   lbtui attach lbtui-results
  lbtui attach --read-only runs/today            (watch only: no key changes the run)

q detaches: the run goes on. Only the user who started the run can attach.
Without a terminal it prints plain log lines until the run ends.
It ends by itself, exit 0, within 2 s of SIGTERM or SIGHUP or of its terminal or
pipes closing, whatever it is doing (connecting, waiting for the run).
exit codes: 0 detached, ended as above, or the run's final state was shown; 2 OUT holds no run
  to attach to (no such folder, not a run folder, its process is gone), a
  newer lbtui started it, or it runs on another host (the line says the command
  that attaches there, e.g. srun --overlap --jobid J --pty lbtui attach OUT)
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "attach",
        help="open the dashboard of a running (or finished) run, from any terminal",
        description="Open the live dashboard of the run writing to OUT (started headless, under "
        "nohup, tmux, SLURM ...). Several dashboards may attach at once; q detaches and leaves the "
        "run going. A finished run shows its final state.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="the run's --out folder")
    add_read_only(p)
    p.add_argument("--refresh", type=_refresh, default=2.0, metavar="S",
                   help="seconds between updates [default: 2]")
    p.set_defaults(handler=main)


def add_read_only(p: argparse.ArgumentParser) -> None:
    p.add_argument("--read-only", action="store_true",
                   help="watch only: pause, drain, stealing, stopping the run and writing the report "
                   "are disabled; the run refuses them from this connection too")


def _refresh(text: str) -> float:
    from .argtypes import positive_float

    return positive_float(text)


TEXTUAL_WEB_DRIVER = "textual.drivers.web_driver:WebDriver"
ATTACH_WEB_DRIVER = "lbtui.web.driver:AttachWebDriver"  # its writes never block the app (see web/driver.py)


def main(args: argparse.Namespace) -> int:
    from .lifeline import Lifeline

    # Under a web server (ours, or `textual serve`) textual's web driver is the terminal;
    # ours in its place. textual reads the variable when it is first imported, hence here.
    if os.environ.get("TEXTUAL_DRIVER") == TEXTUAL_WEB_DRIVER:
        os.environ["TEXTUAL_DRIVER"] = ATTACH_WEB_DRIVER
    web = "TEXTUAL_DRIVER" in os.environ
    dashboard = web or sys.stdout.isatty()
    # From here on SIGTERM, SIGHUP and a closed terminal or pipe end the process, exit 0,
    # within 2 s, whatever it is doing: connecting, waiting for the run, or stuck writing.
    with Lifeline(watch_stdin=dashboard) as lifeline:
        return _attach(args, lifeline, dashboard)


def _attach(args: argparse.Namespace, lifeline: Lifeline, dashboard: bool) -> int:
    from virnucpro_bridge.errors import InputError

    from .remote import ConnectionLost, RemoteRun, open_run

    source = open_run(args.out, read_only=args.read_only)  # one line and exit 2: nothing to attach to
    if isinstance(source, RemoteRun):
        lifeline.abort = source.abort
    try:
        if not dashboard:  # a pipe, a log file: plain lines until the run ends, as `run --headless` prints
            from .headless import follow

            # ending: abort() fails its next snapshot (ConnectionLost below), within EVENT_POLL_S
            lifeline.graceful = _nothing
            try:
                follow(source, refresh=args.refresh)  # ends with the summary lines
            except ConnectionLost as exc:
                if lifeline.ended:
                    return 0
                raise InputError(str(exc)) from None
            except BrokenPipeError:  # whoever read our lines is gone: nothing left to do
                _quiet_stdout()
                return 0
            return 0
        from .app import LbtuiApp

        app = LbtuiApp(source, source, refresh=args.refresh, title="lbtui attach", attached=True,
                       read_only=args.read_only)
        lifeline.graceful = lambda: app.call_from_thread(app.exit)
        app.run()
    finally:
        if isinstance(source, RemoteRun):
            source.close()
    return 0


def _nothing() -> None:
    pass


def _quiet_stdout() -> None:
    """stdout's reader is gone: point it at /dev/null so the flush at exit has nowhere to fail."""
    if sys.__stdout__ is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
