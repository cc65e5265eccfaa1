"""``lbtui run``: options, then hand over to the engine and a UI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

from virnucpro_bridge.runner import ABORT_SLACK_S, Run

from . import run_args
from .headless import Style, follow, summary_lines

if TYPE_CHECKING:
    from .app import LbtuiApp  # imported when the dashboard starts: textual is slow to import


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run_args.register(sub, main)


def main(args: argparse.Namespace) -> int:
    run = Run(run_args.run_options(args))
    run.prepare()  # every usage/input error surfaces here, before anything is written
    for line in run.warnings:
        print(f"lbtui: warning: {line}", file=sys.stderr)
    for line in run.notices:
        print(f"lbtui: notice: {line}", file=sys.stderr)
    dashboard = not args.headless and sys.stdout.isatty()
    owed = dashboard  # the closing lines: the dashboard's screen is gone when they are printed
    coord = run.start()
    options = run.options
    stopper = Stopper(run, grace=run.grace)  # as prepare() chose it (under Slurm, from KillWait)
    try:
        if dashboard:
            from .app import LbtuiApp

            app = LbtuiApp(coord, coord, refresh=options.refresh, exit_on_finish=args.exit_on_finish,
                           read_only=args.read_only)
            stopper.app = app
            with stopper.installed():
                gc.freeze()  # start-up objects live all run: full collections skip them (shorter UI pauses)
                app.run()
            if args.read_only and not run.finished and not coord.stopping:
                # a read-only dashboard closes, it does not stop: the run goes on with log lines
                print("lbtui: dashboard closed; the run goes on (Ctrl+C stops it, keeping what is done)",
                      file=sys.stderr)
                dashboard = owed = False
            else:
                if not run.finished and not coord.stopping:
                    run.stop()  # the app closed without saying how: a stop that keeps what is done
                if not run.finished and coord.in_flight:
                    print(f"lbtui: waiting for {coord.in_flight} unit(s) in flight to stop "
                          f"(at most {run.grace:g} s; Ctrl+C: stop now)", file=sys.stderr)
        if not dashboard:
            with stopper.installed():
                style = Style(refresh=options.refresh, batch=not sys.stdout.isatty(),
                              interval=options.progress_interval, verbose=options.verbose)
                last = follow(coord, style=style,
                              done=lambda: run.finished or not run.dispatching or stopper.overdue())
            owed = not last.finished  # follow left the closing lines to us: the run had not closed out
        with stopper.installed():
            code = stopper.wait()
    except HardStop:
        code = run.abort("stopped at once by a second signal")
        owed = True  # the headless log was cut short: its closing lines are still owed
    if run.error:
        print(f"lbtui: error: {run.error}", file=sys.stderr)
    if owed:
        for line in summary_lines(coord.snapshot(), code):
            print(line, flush=True)
    for line in run.close_alerts():  # the closing lines are out: now the end's alert (at most 10 s)
        print(f"lbtui: warning: {line}", file=sys.stderr)
    return code


class HardStop(BaseException):
    """A second SIGINT/SIGTERM outside the dashboard: leave whatever we wait on.
    A BaseException, like KeyboardInterrupt, because it is raised wherever the
    main thread happens to be: an ``except Exception`` there (reading the
    workers' reports through the Manager, say) must not swallow it."""


SAME_REQUEST_S = 1.0  # a second signal sooner than this is the first one again (srun sends SIGTERM twice, ms apart)


class Stopper:
    """SIGINT/SIGTERM, whatever state the engine is in. The first stops handing
    out work and cuts units in flight at their next boundary, within ``--grace``;
    a second one within SAME_REQUEST_S of the first is the same request, a later
    one kills the workers at once. Either way the process ends: past ``--grace`` +
    ABORT_SLACK_S the main thread ends the run itself (``Run.abort``).

    The handler takes no lock (``Run.stop`` is lock-free), so it cannot wait
    on a dispatcher that holds one. Under the dashboard Ctrl+C is a key (the
    quit dialog); a signal sent to the process closes the app once the run
    ends, or at the deadline."""

    def __init__(self, run: Run, *, grace: float) -> None:
        self.run, self.grace = run, grace
        self.app: LbtuiApp | None = None
        self.deadline: float | None = None
        self.first: float | None = None  # when the first signal came (monotonic)
        self.hard = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def overdue(self) -> bool:
        return self.hard or (self.deadline is not None and time.monotonic() > self.deadline)

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
            self.deadline = now + self.grace + ABORT_SLACK_S
            self.run.stop()
            if self.app is not None:
                self.app.exit_on_finish = True  # read by the app on its next snapshot
                self._close_app_later(self.grace + ABORT_SLACK_S)
            return
        if now - self.first < SAME_REQUEST_S:
            return  # the same stop, delivered twice (srun at a time limit; a group and its leader)
        self.hard = True
        self.run.stop(now=True)  # kill the workers now: nothing waits on them any more
        if self.app is not None:
            self._close_app_later(0.0)
        else:
            raise HardStop

    def _close_app_later(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        app = self.app
        if app is None:
            return

        def close() -> None:
            loop.call_soon_threadsafe(app.exit)

        timer = threading.Timer(delay, close)
        timer.daemon = True
        timer.start()

    def wait(self) -> int:
        """The exit code, once the dispatcher has ended or the deadline passed."""
        while True:
            code = self.run.wait(0.2)
            if code is not None:
                return code
            if self.overdue():
                return self.run.abort("the run did not stop within --grace; workers killed")

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        wanted = [signal.SIGINT, signal.SIGTERM]
        previous = {s: signal.signal(s, self.handler) for s in wanted}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
