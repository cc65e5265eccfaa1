"""Workers and the Manager are born deaf to SIGINT and SIGTERM: only the main process acts.

A SIGTERM to the whole process group can arrive while a child is still starting
(the interpreter, its imports), before any line of its own code has run; it
must not kill it then either.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal

import psutil
import pytest

from virnucpro_bridge.backends.local import signals
from virnucpro_bridge.backends.local.pool import start_manager

pytestmark = pytest.mark.slow  # starts processes


def _child(conn) -> None:
    signals.ignore_stop_signals()
    conn.recv()  # until the test says so


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_a_childs_birth_does_not_kill_it(sig) -> None:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child,), daemon=True)
    with signals.blocked():
        proc.start()
    os.kill(proc.pid, sig)  # still starting up: its own code has not run yet
    parent.send("exit")
    proc.join(30)
    assert proc.exitcode == 0


def test_blocking_is_undone_in_the_starting_thread() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    with signals.blocked():
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) >= signals.STOP_SIGNALS
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before


def test_the_manager_ignores_sigterm() -> None:
    before = {p.pid for p in psutil.Process().children()}
    manager, status = start_manager()
    try:
        started = [p.pid for p in psutil.Process().children() if p.pid not in before]
        assert started
        for pid in started:  # the Manager (and the resource tracker, if it started now)
            os.kill(pid, signal.SIGTERM)
        status["x"] = 1  # still answers
        assert status["x"] == 1
    finally:
        manager.shutdown()
