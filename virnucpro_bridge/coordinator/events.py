"""The run's event log: numbered events, the last steals, the error lines.

Every part of the coordinator records what happened here; snapshots copy
it out (``views.py``) and the journal writes each event once (``seq``).
Appends take the coordinator's lock, so a snapshot never copies a deque
while it changes; ``stop()`` from a signal handler appends without it.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable

from ..control import snapshot as S
from ..inputs.units import Unit
from .device_book import DeviceBook

STEALS_KEPT = 50  # the snapshot's "last 50 steal events"
EVENTS_KEPT = 200  # events carried per snapshot; the log widget keeps its own history
ERRORS_KEPT = 100


class EventLog:
    def __init__(self, clock: Callable[[], float], lock: threading.RLock, first_seq: int = 1) -> None:
        """``first_seq``: the number of the first event (a resumed run continues its events.jsonl)."""
        self.clock = clock
        self.lock = lock
        self.events: deque[S.RunEvent] = deque(maxlen=EVENTS_KEPT)
        self.steals: deque[S.StealEvent] = deque(maxlen=STEALS_KEPT)
        self.steals_total = 0
        self.errors: deque[str] = deque(maxlen=ERRORS_KEPT)  # one line each, for the dashboard and summary
        self._seq = itertools.count(first_seq)

    def add(self, kind: str, level: str, message: str, device: int | None = None,
            now: float | None = None, *, unit: str | None = None, action: str | None = None,
            locked: bool = True) -> None:
        """One event; ``locked=False`` only where the lock must not be waited for
        (a signal handler: deque.append is atomic)."""
        when = self.clock() if now is None else now
        if not locked:
            self.events.append(S.RunEvent(next(self._seq), when, kind, level, message, device,
                                          unit=unit, action=action))
            return
        with self.lock:
            self.events.append(S.RunEvent(next(self._seq), when, kind, level, message, device,
                                          unit=unit, action=action))

    def info(self, message: str, level: str = "info") -> None:
        kind = {"info": S.EV_INFO, "warning": S.EV_WARNING}.get(level, S.EV_FAILURE)
        self.add(kind, level, message)

    def error(self, line: str) -> None:
        """A line for the run's error list (an event says it too, separately)."""
        self.errors.append(line)

    def steal(self, thief: DeviceBook, victim: DeviceBook, unit: Unit, now: float) -> None:
        seq = next(self._seq)
        steal = S.StealEvent(seq, now, thief.spec.index, victim.spec.index, unit.uid, unit.sequences)
        self.steals.append(steal)
        self.steals_total += 1
        message = (f"{thief.spec.label} stole {unit.uid} ({unit.sequences:,} seqs) "
                   f"from {victim.spec.label}")
        self.events.append(S.RunEvent(seq, now, S.EV_STEAL, "info", message, thief.spec.index, steal,
                                      unit=unit.uid))

    def split(self, target: DeviceBook, victim: DeviceBook, tail: Unit, now: float) -> None:
        """``victim``'s running unit was cut: ``tail`` goes to ``target``."""
        seq = next(self._seq)
        record = S.StealEvent(seq, now, target.spec.index, victim.spec.index, tail.uid, tail.sequences)
        message = f"{target.spec.label} ⇶ split {tail.rel} [{tail.span}) from {victim.spec.label}"
        self.events.append(S.RunEvent(seq, now, S.EV_SPLIT, "info", message, target.spec.index,
                                      record, unit=tail.uid))
