"""``lbtui attach OUT [--read-only]``: the dashboard of a run in another process."""

from __future__ import annotations

import argparse
import os
import sys

EXAMPLES = """\
examples:
  lbtui run --headless inputs/ &      then:   lbtui attach lbtui-results
  lbtui attach --read-only runs/today            (watch only: no key changes the run)

q detaches: the run goes on. Only the user who started the run can attach.
Without a terminal it prints plain log lines until the run ends.
exit codes: 0 detached (or the run's final state was shown); 2 OUT holds no run
  to attach to (no such folder, not a run folder, its process is gone), or a
  newer lbtui started it
"""


def register(sub: argparse._SubParsersAction) -> None:
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
                   help="watch only: pause, drain, stealing and stopping the run are disabled")


def _refresh(text: str) -> float:
    from .argtypes import positive_float

    return positive_float(text)


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.errors import InputError

    from .remote import ConnectionLost, RemoteRun, open_run

    source = open_run(args.out)  # one line and exit 2 when there is nothing to attach to
    try:
        # no terminal (a pipe, a log file): plain lines until the run ends, as `run --headless`
        # prints; under `lbtui serve` textual's web driver is the terminal
        if not sys.stdout.isatty() and "TEXTUAL_DRIVER" not in os.environ:
            from .headless import follow

            try:
                follow(source, refresh=args.refresh)  # ends with the summary lines
            except ConnectionLost as exc:
                raise InputError(str(exc)) from None
            return 0
        from .app import LbtuiApp

        LbtuiApp(source, source, refresh=args.refresh, title="lbtui attach", attached=True,
                 read_only=args.read_only).run()
    finally:
        if isinstance(source, RemoteRun):
            source.close()
    return 0
