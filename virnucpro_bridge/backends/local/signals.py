"""Stop signals belong to the main process: workers and the Manager ignore them.

A terminal's Ctrl+C (SIGINT) and a SIGTERM to the whole process group
(``kill -- -PGID``, Slurm's proctrack/linuxproc, ``scancel -f``) reach every
process of the run at once. Only the main process decides what a stop means
(cut the units in flight, record them, then stop the workers), so a child
that died of the signal itself would look like a crashed worker: a false
death, a retry, a unit marked failed. Children are therefore born with the
signals blocked (the mask survives fork and exec, so there is no window
before the child's own code runs) and ignore them from their first line::

    main:   with blocked(): process.start()   child: ignore_stop_signals()
            (this thread only)                       SIG_IGN, then unblock:
                                                     a signal pending from
                                                     its birth is discarded

The main process ends its children itself (STOP, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from multiprocessing import resource_tracker

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Block the stop signals in this thread while it starts a child process. A
    signal sent meanwhile waits (for the main thread's handler, or is taken by
    another thread): nothing is lost."""
    # Starting a spawn child first starts multiprocessing's resource tracker if it is
    # not running, and that unblocks SIGINT/SIGTERM behind it: start it before blocking.
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_stop_signals() -> None:
    """First thing in a worker or the Manager process: SIGINT and SIGTERM do nothing here."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
