"""Recovery of units: retries, requeues after a worker is lost, give-backs, refunds.

A unit that failed goes to the live device that would finish it earliest;
a lost worker's unit is requeued and a dead or draining device's queue handed
out. A worker death counts against the unit only after ``MAX_WORKER_DEATHS``:
a unit that takes down every worker is a bad unit, not bad luck. A unit never
goes back to a device it failed on while another device can take it
(``failed_on``). Whether a failure was the device's is ``health.py``'s part;
when it was, ``refund`` gives the unit its retry back. Called from the
dispatcher thread under the coordinator's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..control import snapshot as S
from ..inputs.units import Unit
from .commands import RunControls
from .device_book import DeviceBook, InFlight
from .events import EventLog
from .queues import Queues

MAX_WORKER_DEATHS = 2  # a unit that took down two workers would take down every one


class Recovery:
    def __init__(self, books: Sequence[DeviceBook], queues: Queues, controls: RunControls, log: EventLog,
                 clock: Callable[[], float], *, retries: int) -> None:
        """``retries``: failures a unit may have on other devices before it is failed (--retries)."""
        self.books, self.queues, self.controls, self.log, self.clock = books, queues, controls, log, clock
        self.retries = retries
        self.failed: dict[str, str] = {}  # uid -> error
        self.failed_at: dict[str, tuple[int, bool]] = {}  # failed uid -> (device, for good: no refund)
        self.failed_on: dict[str, set[int]] = {}  # uid -> devices it failed or died on (never again)
        self.charged: dict[str, int] = {}  # uid -> failures counted against its --retries
        self.deaths: dict[str, int] = {}  # uid -> workers that died while running it

    def may_run_on(self, unit: Unit, index: int) -> bool:
        """Whether ``unit`` may go to device ``index`` (it has not failed there)."""
        return index not in self.failed_on.get(unit.uid, ())

    def unit_done(self, uid: str) -> None:
        """Done for good: nothing per unit stays behind."""
        self.deaths.pop(uid, None)

    def inherit(self, parent: str, head: str) -> None:
        """A running unit was cut: its head keeps the deaths counted against it."""
        if parent in self.deaths:
            self.deaths[head] = self.deaths[parent]

    def retry_or_fail(self, book: DeviceBook, flight: InFlight, error: str, permanent: bool,
                      death: bool = False, charged: bool = True) -> bool:
        """Place a failed unit elsewhere, or mark it failed. ``charged``: the
        failure counts against the unit's --retries (a device fault does not)."""
        now = self.clock()
        uid = flight.unit.uid
        first_line = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        tried = self.failed_on.setdefault(uid, set())
        tried.add(book.spec.index)
        if death:  # the worker died under it: not the unit's fault, unless it keeps happening
            retry = self.deaths.get(uid, 0) < MAX_WORKER_DEATHS
        elif not charged:  # the device's fault: bounded, as it never goes back to a device it failed on
            retry = not permanent
        else:
            self.charged[uid] = self.charged.get(uid, 0) + 1
            retry = not permanent and self.charged[uid] <= self.retries
        if retry and not self.controls.stop_now:
            # A unit goes back where it failed only when no other device is left
            # (a one-GPU run); for a device fault that retry counts against the unit.
            target = self._requeue(flight.unit, avoid=book, fallback=charged or death)
            if target is None and not (charged or death or permanent):
                self.charged[uid] = self.charged.get(uid, 0) + 1
                if self.charged[uid] <= self.retries:
                    target = self._requeue(flight.unit, avoid=book, fallback=True)
            if target is not None:
                where = f"on {target.spec.label}" if target.accepts_work else "once a device is free"
                self.log.add(S.EV_RETRY, "warning",
                             f"{uid} failed on {book.spec.label} (attempt {flight.attempt}): "
                             f"{first_line}; retrying {where}", book.spec.index, now, unit=uid)
                return True
            if not permanent:
                first_line = f"{first_line} (no device left that it has not failed on)"
        self._mark_failed(book, flight, first_line, now, permanent=permanent or death)
        return False

    def _mark_failed(self, book: DeviceBook, flight: InFlight, line: str, now: float, *,
                     permanent: bool) -> None:
        uid = flight.unit.uid
        self.failed[uid] = line
        self.failed_at[uid] = (book.spec.index, permanent)
        book.units_failed += 1
        book.records.append(S.UnitRecord(uid, flight.unit.sequences, now - flight.started,
                                         flight.stolen, False, now, line))
        self.log.error(f"{uid}: {line}")
        self.log.add(S.EV_FAILURE, "error", f"{uid} failed on {book.spec.label}: {line}",
                     book.spec.index, now, unit=uid)

    def _requeue(self, unit: Unit, avoid: DeviceBook | None, fallback: bool) -> DeviceBook | None:
        """Queue a unit that must leave ``avoid``: on the live device that would
        finish it earliest among those it has not failed on; when every such
        device is paused, on one of them (it waits); with ``fallback``, on any
        live device when no other is left. None: nowhere."""
        tried = self.failed_on.get(unit.uid, set())
        target = self.queues.place(unit, avoid=avoid, exclude=tried, fallback=fallback)
        if target is not None:
            return target
        waiting = [b for b in self.books if b.alive and not b.draining and b.spec.index not in tried
                   and b is not avoid]
        if not waiting and fallback:
            waiting = [b for b in self.books if b.alive and not b.draining]
        if not waiting:
            return None
        waiting[0].push(unit, front=True)  # a dead or drained device's queue is handed out again on resume
        return waiting[0]

    def lose_worker(self, book: DeviceBook, reason: str, now: float) -> InFlight | None:
        """``book``'s worker is gone (died, killed for a restart): its unit is
        requeued (a death against the unit) and its queue handed out."""
        flight = book.in_flight
        book.in_flight = None
        if flight is not None:
            book.busy_s += max(0.0, now - flight.started)
            self.deaths[flight.unit.uid] = self.deaths.get(flight.unit.uid, 0) + 1
            self.retry_or_fail(book, flight, reason, permanent=False, death=True)
        self.give_back(book)
        return flight

    def give_back(self, book: DeviceBook) -> None:
        """Redistribute a dead or draining device's queue, largest first."""
        units = book.take_all()
        for unit in sorted(units, key=lambda u: -u.cost):
            if self.queues.place(unit, avoid=book, front=False,
                                 exclude=self.failed_on.get(unit.uid, set())) is None:
                book.push(unit)  # nobody left to take it: it stays, and fails at the end

    def refund(self, unit: Unit, book: DeviceBook) -> None:
        """A failure on ``book`` was the device's, not the unit's: take it back, and
        queue the unit again if that failure had used its last retry."""
        uid = unit.uid
        self.charged[uid] = max(0, self.charged.get(uid, 0) - 1)
        where = self.failed_at.get(uid)
        if uid not in self.failed or where is None or where[1] or self.charged[uid] > self.retries:
            return
        target = self.queues.place(unit, exclude=self.failed_on.get(uid, set()), fallback=False)
        if target is None:
            return
        del self.failed[uid]
        del self.failed_at[uid]
        self.books[where[0]].units_failed -= 1
        self.log.add(S.EV_RETRY, "warning",
                     f"{uid}: its failure on {book.spec.label} was the device's; "
                     f"retrying on {target.spec.label}", target.spec.index, unit=uid)
