"""The recovery half of the Coordinator: retries, worker deaths, restarts.

A unit that failed goes to the live device that would finish it earliest;
a dead (or restarted) device's unit is requeued and its queue handed out.
A worker death counts against the unit only after ``MAX_WORKER_DEATHS``:
a unit that takes down every worker is a bad unit, not bad luck.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..control import snapshot as S

if TYPE_CHECKING:
    from ..inputs.units import Unit
    from .device_book import DeviceBook, InFlight

MAX_WORKER_DEATHS = 2  # a unit that took down two workers would take down every one
MAX_RESTARTS = 3  # a device whose worker stalls this often is given up on


class Recovery:
    """Mixed into :class:`~virnucpro_bridge.coordinator.Coordinator`; called
    from the dispatcher thread under the coordinator's lock."""

    def _retry_or_fail(self, book: DeviceBook, flight: InFlight, error: str, permanent: bool,
                       death: bool = False) -> bool:
        now = self.clock()
        uid = flight.unit.uid
        first_line = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        if death:  # the worker died under it: not the unit's fault, unless it keeps happening
            retry = self.deaths.get(uid, 0) < MAX_WORKER_DEATHS
        else:
            retry = not permanent and flight.attempt <= self.retries
        if retry and not self.stop_now:
            target = self._place(flight.unit, avoid=book)
            where = f"on {target.spec.label}" if target is not None else "once a device is free"
            if target is None and any(b.alive for b in self.books):
                # Every live device is paused: keep the unit here (a dead or
                # drained device's queue is handed out again on resume).
                book.push(flight.unit, front=True)
                target = book
            if target is not None:
                self._event(S.EV_RETRY, "warning",
                            f"{uid} failed on {book.spec.label} (attempt {flight.attempt}): "
                            f"{first_line}; retrying {where}", book.spec.index, now, unit=uid)
                return True
        self.failed[uid] = first_line
        book.units_failed += 1
        book.records.append(S.UnitRecord(uid, flight.unit.sequences, now - flight.started,
                                         flight.stolen, False, now, first_line))
        self.errors.append(f"{uid}: {first_line}")
        self._event(S.EV_FAILURE, "error", f"{uid} failed on {book.spec.label}: {first_line}",
                    book.spec.index, now, unit=uid)
        return False

    def _place(self, unit: Unit, avoid: DeviceBook | None = None, front: bool = True) -> DeviceBook | None:
        """Queue ``unit`` on the live device that would finish it earliest.
        ``avoid`` is used only when no other device can take it."""
        now, scale = self.clock(), self.base_rate()
        candidates = [b for b in self.books if b.accepts_work and b is not avoid]
        if not candidates and avoid is not None and avoid.accepts_work:
            candidates = [avoid]
        if not candidates:
            return None

        def finish(b: DeviceBook) -> float:
            rate = self.rate(b, scale)
            return (self.current_remaining(b, rate, now) + b.queued_cost + unit.cost) / rate

        target = min(candidates, key=lambda b: (finish(b), b.spec.index))
        target.push(unit, front=front)
        return target

    def device_died(self, index: int, reason: str) -> InFlight | None:
        """A worker process is gone: requeue its unit and hand its queue out."""
        book = self.books[index]
        if book.dead:
            return None
        book.dead = True
        book.ready = False
        now = self.clock()
        book.errors.append(reason)
        self.errors.append(f"{book.spec.label}: {reason}")
        self._event(S.EV_DEATH, "error", f"{book.spec.label} died: {reason}", index, now)
        return self._lose_worker(book, reason, now)

    def restart_stalled(self, index: int) -> bool:
        """``--stall-action restart``: the backend kills the stalled worker and
        starts a fresh one. Its unit is requeued elsewhere (a worker death) and
        its queue handed out; the device takes work again once set up. Returns
        False when it stalled too often: then it is dead, not restarted."""
        book = self.books[index]
        if book.dead:
            return False
        if book.restarts >= MAX_RESTARTS:
            self.device_died(index, f"stalled {book.restarts + 1} times; not restarted again")
            return False
        book.restarts += 1
        now = self.clock()
        unit = book.in_flight.unit.uid if book.in_flight else None
        reason = f"no progress for {self.stall_timeout:g} s"
        book.errors.append(f"restarted: {reason}")
        self._event(S.EV_DEATH, "warning", f"{book.spec.label} restarted: {reason}"
                    + (f" on {unit}" if unit else ""), index, now, unit=unit)
        book.ready = False
        book.stalled = False
        book.pid = None
        self._lose_worker(book, f"worker restarted: {reason}", now)
        return True

    def _lose_worker(self, book: DeviceBook, reason: str, now: float) -> InFlight | None:
        self.forget_cuts(book.spec.index)  # a confirmed cut already gave its tail away
        flight = book.in_flight
        book.in_flight = None
        if flight is not None:
            book.busy_s += max(0.0, now - flight.started)
            self.deaths[flight.unit.uid] = self.deaths.get(flight.unit.uid, 0) + 1
            self._retry_or_fail(book, flight, reason, permanent=False, death=True)
        self._give_back(book)
        return flight

    def _give_back(self, book: DeviceBook) -> None:
        """Redistribute a dead or draining device's queue, largest first."""
        units = book.take_all()
        for unit in sorted(units, key=lambda u: -u.cost):
            if self._place(unit, avoid=book, front=False) is None:
                book.push(unit)  # nobody left to take it: it stays, and fails at the end

