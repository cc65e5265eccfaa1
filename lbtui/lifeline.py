"""An attach process's lifeline: it ends, exit 0, within END_WITHIN_S of losing
its terminal or pipes or of SIGTERM/SIGHUP, whatever its threads are doing.

    main thread:  SIGTERM, SIGHUP blocked (and in every thread it starts)
    lifeline thread:  sigtimedwait(SIGTERM, SIGHUP)  ─┐
                      poll(stdin: HUP, stdout: ERR)  ─┼─▶ end(reason)
    the web driver's writer:  output gone          ──┘       │
                                                             ▼
        abort()      the channel's socket is shut: a request waiting for a reply fails at once
        graceful()   the app is asked to exit (it restores the terminal, says goodbye to serve)
        GRACE_S later, if the process still lives: os._exit(0)

A thread, not signal handlers: a Python handler runs on the main thread, which
may be what is stuck (a write nobody reads, a reply that never comes). Hangups
show as POLLHUP on stdin (serve ended, the terminal closed) and POLLERR on stdout
(the reader is gone), which a poll for no events still reports.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from collections.abc import Callable

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
POLL_S = 0.2  # how often the lifeline looks at the pipes between signals
GRACE_S = 1.0  # the app's time to close itself before the process just exits
END_WITHIN_S = 2.0  # the promise: POLL_S + GRACE_S and a margin
LEAVE_SCREEN = b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1003l\x1b[?1006l"  # main screen, cursor, no mouse

_active: Lifeline | None = None


def end_process(reason: str) -> None:
    """Ask the running lifeline (if any) to end this process: what the web driver
    calls when its output is gone."""
    if _active is not None:
        _active.end(reason)


class Lifeline:
    """Start it first thing on the main thread (``with Lifeline(...)``), before any
    other thread exists, so that every thread inherits the blocked signals.
    ``abort`` and ``graceful`` are set as the process gets something to abort or
    to close; both must be safe to call from another thread."""

    def __init__(self, *, watch_stdin: bool, grace: float = GRACE_S) -> None:
        self.watch_stdin = watch_stdin
        self.grace = grace
        self.abort: Callable[[], None] | None = None
        self.graceful: Callable[[], None] | None = None
        self.reason: str | None = None  # why it ended the process, once it has
        self._stop = threading.Event()
        self._ending = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_tty: list | None = None

    # -- start and stop ------------------------------------------------------------
    def __enter__(self) -> Lifeline:
        global _active
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        self._saved_tty = _tty_state()
        self._thread = threading.Thread(target=self._watch, name="lbtui-lifeline", daemon=True)
        self._thread.start()
        _active = self
        return self

    def __exit__(self, *_exc: object) -> None:
        """Normal end (also for in-process callers such as tests): the signals go back to normal."""
        global _active
        _active = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._ending.is_set():
            return  # the process is on its way out; a second signal must not kill it with a status
        while signal.sigtimedwait(SIGNALS, 0) is not None:  # taken in the gap: we are ending anyway
            pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    @property
    def ended(self) -> bool:
        return self._ending.is_set()

    # -- ending --------------------------------------------------------------------
    def end(self, reason: str) -> None:
        """End the process: abort the channel, ask the app to close, exit 0 after the grace."""
        if self._ending.is_set():
            return
        self.reason = reason
        self._ending.set()
        for step in (self.abort, self.graceful):
            if step is not None:
                threading.Thread(target=_quietly, args=(step,), name="lbtui-ending", daemon=True).start()
        threading.Thread(target=self._deadline, name="lbtui-deadline", daemon=True).start()

    def _deadline(self) -> None:
        # Nothing to close (still connecting): at once. Else the app's grace, unless the
        # main thread gets out of the ``with`` first and the process ends by itself.
        if self._stop.wait(self.grace if self.graceful is not None else 0):
            return
        self._leave_terminal()
        os._exit(0)

    def _leave_terminal(self) -> None:
        """The app did not close in time: give a live terminal back in a usable state."""
        if self._saved_tty is None:
            return
        import termios

        try:
            termios.tcsetattr(sys.__stdin__.fileno(), termios.TCSANOW, self._saved_tty)
            os.set_blocking(sys.__stdout__.fileno(), False)  # never block on the way out
            os.write(sys.__stdout__.fileno(), LEAVE_SCREEN)
        except (OSError, ValueError, termios.error):
            pass

    # -- watching ------------------------------------------------------------------
    def _watch(self) -> None:
        poller = select.poll()
        watched = {}
        for fd, name, bad in ((_fileno(sys.__stdin__), "stdin", select.POLLHUP),
                              (_fileno(sys.__stdout__), "stdout", select.POLLERR | select.POLLHUP)):
            if fd is None or name == "stdin" and not self.watch_stdin:
                continue
            poller.register(fd, 0)  # no events asked: only hangups and errors are reported
            watched[fd] = (name, bad)
        while not self._stop.is_set() and not self._ending.is_set():
            info = signal.sigtimedwait(SIGNALS, POLL_S)
            if info is not None:
                self.end(signal.Signals(info.si_signo).name)
                return
            for fd, events in poller.poll(0):
                name, bad = watched[fd]
                if events & select.POLLNVAL:
                    poller.unregister(fd)
                elif events & bad:
                    self.end(f"{name} closed")
                    return


def _fileno(stream: object) -> int | None:
    try:
        fd = stream.fileno()  # type: ignore[union-attr]
        os.fstat(fd)
        return fd
    except (AttributeError, OSError, ValueError):
        return None


def _tty_state() -> list | None:
    """The terminal's settings before the app changes them, to restore on a forced exit."""
    try:
        import termios

        if sys.__stdin__ is not None and os.isatty(sys.__stdin__.fileno()):
            return termios.tcgetattr(sys.__stdin__.fileno())
    except (OSError, ValueError, ImportError):
        pass
    return None


def _quietly(step: Callable[[], None]) -> None:
    try:
        step()
    except Exception:  # noqa: BLE001 - ending anyway; the deadline exits if this could not help
        pass
