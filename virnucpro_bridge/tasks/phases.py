"""Where a worker's time goes: its unit-running thread's wall time, split into phases.

    input   waiting for work: for a unit from the dispatcher, or for the next
            batch from the task's prefetch thread (the device starves)
    cpu     preparing on the host: reading, chunking, translating, tokenising
            (what a prefetch thread did not do ahead), planning batches
    gpu     the model: copies to the device, forward, copy back (on a CPU or
            simulated device, the forward itself)
    write   formatting results, writing them, answering the dispatcher

The thread is always in exactly one phase (``switch`` ends the one before),
so the phases add up to the time since ``restart`` by construction; the
worker reports them with its readings. The worker sets ``input`` and
``write`` around units, a task sets the others inside ``run_unit`` (a task
that sets none counts as ``cpu``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PHASES = ("input", "cpu", "gpu", "write")


class PhaseClock:
    """Seconds per phase of one thread; read from any thread (``totals``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.restart()

    def restart(self) -> None:
        """Zero the totals; the thread is waiting for input from now on."""
        with self._lock:
            self._seconds = dict.fromkeys(PHASES, 0.0)
            self.current = "input"
            self._since = self.started = self._clock()

    def switch(self, phase: str) -> str:
        """Enter ``phase`` now; returns the phase left (to switch back to)."""
        if phase not in self._seconds:
            raise ValueError(f"unknown phase {phase!r}: expected one of {PHASES}")
        with self._lock:
            now = self._clock()
            left = self.current
            self._seconds[left] += now - self._since
            self.current, self._since = phase, now
        return left

    @contextmanager
    def phase(self, phase: str) -> Iterator[None]:
        """``phase`` for the block, then back to whatever it was."""
        left = self.switch(phase)
        try:
            yield
        finally:
            self.switch(left)

    def totals(self) -> dict[str, float]:
        """Seconds per phase since ``restart``, the current one counted up to now."""
        with self._lock:
            out = dict(self._seconds)
            out[self.current] += self._clock() - self._since
        return out
