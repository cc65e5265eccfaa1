"""The recovery half of the Coordinator: retries, worker deaths, restarts.

A unit that failed goes to the live device that would finish it earliest;
a dead (or restarted) device's unit is requeued and its queue handed out.
A worker death counts against the unit only after ``MAX_WORKER_DEATHS``:
a unit that takes down every worker is a bad unit, not bad luck. A unit
never goes back to a device it failed on while another device can take it
(``failed_on``); whether a failure was the device's is ``health.py``'s part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..control import snapshot as S

if TYPE_CHECKING:
    from ..inputs.units import Unit
    from .device_book import DeviceBook, InFlight

MAX_WORKER_DEATHS = 2  # a unit that took down two workers would take down every one
MAX_RESTARTS = 3  # a device whose worker stalls this often is given up on
SETUP_RETRIES = 1  # a restarted worker's setup may fail once (memory still held, a slow reset)


class Recovery:
    """Mixed into :class:`~virnucpro_bridge.coordinator.Coordinator`; called
    from the dispatcher thread under the coordinator's lock."""

    def _retry_or_fail(self, book: DeviceBook, flight: InFlight, error: str, permanent: bool,
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
        if retry and not self.stop_now:
            # A unit goes back where it failed only when no other device is left
            # (a one-GPU run); for a device fault that retry counts against the unit.
            target = self._requeue(flight.unit, avoid=book, fallback=charged or death)
            if target is None and not (charged or death or permanent):
                self.charged[uid] = self.charged.get(uid, 0) + 1
                if self.charged[uid] <= self.retries:
                    target = self._requeue(flight.unit, avoid=book, fallback=True)
            if target is not None:
                where = f"on {target.spec.label}" if target.accepts_work else "once a device is free"
                self._event(S.EV_RETRY, "warning",
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
        self.errors.append(f"{uid}: {line}")
        self._event(S.EV_FAILURE, "error", f"{uid} failed on {book.spec.label}: {line}",
                    book.spec.index, now, unit=uid)

    def _requeue(self, unit: Unit, avoid: DeviceBook | None, fallback: bool) -> DeviceBook | None:
        """Queue a unit that must leave ``avoid``: on the live device that would
        finish it earliest among those it has not failed on; when every such
        device is paused, on one of them (it waits); with ``fallback``, on any
        live device when no other is left. None: nowhere."""
        tried = self.failed_on.get(unit.uid, set())
        target = self._place(unit, avoid=avoid, exclude=tried, fallback=fallback)
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

    def _place(self, unit: Unit, avoid: DeviceBook | None = None, front: bool = True,
               exclude: set[int] | frozenset[int] = frozenset(), fallback: bool = True) -> DeviceBook | None:
        """Queue ``unit`` on the live device that would finish it earliest, never
        on a device in ``exclude``. ``avoid`` (and, with ``fallback``, the
        excluded) are used only when no other device can take it."""
        now, scale = self.clock(), self.base_rate()
        taking = [b for b in self.books if b.accepts_work]
        candidates = [b for b in taking if b is not avoid and b.spec.index not in exclude]
        if not candidates and avoid is not None and avoid in taking and avoid.spec.index not in exclude:
            candidates = [avoid]
        if not candidates and fallback:
            candidates = [b for b in taking if b is not avoid] or taking
        if not candidates:
            return None

        def finish(b: DeviceBook) -> float:
            rate = self.rate(b, scale)
            return (self.current_remaining(b, rate, now) + b.queued_cost + unit.cost) / rate

        target = min(candidates, key=lambda b: (finish(b), b.spec.index))
        target.push(unit, front=front)
        return target

    def device_died(self, index: int, reason: str, *, verb: str = "died") -> InFlight | None:
        """A worker process is gone (or its device retired, ``verb``): requeue its
        unit and hand its queue out."""
        book = self.books[index]
        if book.dead:
            return None
        book.dead = True
        book.ready = False
        book.reason = f"{verb}: {reason}"
        now = self.clock()
        book.errors.append(book.reason)
        self.errors.append(f"{book.spec.label}: {reason}")
        self._event(S.EV_DEATH, "error", f"{book.spec.label} {verb}: {reason}", index, now)
        flight = self._lose_worker(book, reason, now)
        self._stop_if_nothing_started()
        return flight

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
        book.reason = f"restarting: {reason}"
        book.setup_retries = SETUP_RETRIES
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
            if self._place(unit, avoid=book, front=False, exclude=self.failed_on.get(unit.uid, set())) is None:
                book.push(unit)  # nobody left to take it: it stays, and fails at the end

