"""The device queues and stealing: who runs what next, and at what estimated speed.

    assign(units) ─▶ each DeviceBook's queue (largest first, earliest finish)
    start(book, unit) ─▶ the unit in flight (its attempt counted)
    steal(thief) ─▶ the tail of the queue of a victim the policy allows
    place(unit) ─▶ the queue of the device that would finish it earliest

Speeds are learned run-wide (``policy.stealing``): each device's prior is its
weight times the fleet's measured rate per unit of weight. Only the
dispatcher thread calls this, under the coordinator's lock; one dispatcher
owns every queue, so a thief never waits on a victim's queue (a backend
with several dispatchers would need a lock per queue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..inputs.units import Unit
from ..policy.assignment import assign
from ..policy.stealing import VictimView, estimate_rate, fleet_base_rate, steal_candidates
from .counts import RunCounts
from .device_book import DeviceBook, InFlight
from .events import EventLog
from .progress import UnitProgress


class Queues:
    def __init__(self, books: Sequence[DeviceBook], counts: RunCounts, log: EventLog,
                 progress: UnitProgress, clock: Callable[[], float], nominal_rate: float) -> None:
        """``nominal_rate``: cost units (residues)/s of a weight-1 device before any unit finished."""
        self.books = books
        self.counts, self.log, self.progress, self.clock = counts, log, progress, clock
        self.nominal_rate = nominal_rate
        self.attempts: dict[str, int] = {}  # uid -> times started (kept while it may run again)

    def assign(self, units: Sequence[Unit]) -> None:
        """Greedy largest-first assignment onto the earliest-finishing device."""
        plan = assign([u.cost for u in units], [b.weight for b in self.books])
        for book, indices in zip(self.books, plan, strict=True):
            for i in indices:
                book.push(units[i])

    # -- counts ----------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return sum(1 for b in self.books if b.in_flight is not None)

    @property
    def queued(self) -> int:
        return sum(len(b.queue) for b in self.books)

    @property
    def sent_ahead(self) -> int:
        return sum(b.sent for b in self.books)

    # -- rates and estimates -----------------------------------------------------------
    def base_rate(self) -> float:
        """Cost units/s per unit of weight, learned run-wide from finished units."""
        return fleet_base_rate(((b.weight, b.cost_done, b.busy_s) for b in self.books), self.nominal_rate)

    def rate(self, book: DeviceBook, scale: float | None = None) -> float:
        prior = book.weight * (scale if scale is not None else self.base_rate())
        return estimate_rate(prior, book.cost_done, book.busy_s)

    def fastest_first(self) -> list[int]:
        """Device indices, fastest (estimated) first: the order idle devices look for work in."""
        scale = self.base_rate()
        return sorted(range(len(self.books)), key=lambda i: -self.rate(self.books[i], scale))

    def current_remaining(self, book: DeviceBook, rate: float, now: float) -> float:
        """Estimated cost left of the unit ``book`` is running (0 when idle)."""
        if book.in_flight is None:
            return 0.0
        return max(0.0, book.in_flight.unit.cost - (now - book.in_flight.started) * rate)

    def remaining_seconds(self, now: float) -> float | None:
        """Estimated seconds until the work left is done by the devices taking work."""
        scale = self.base_rate()
        rates = [self.rate(b, scale) for b in self.books if b.accepts_work]
        if not rates:
            return None
        left = sum(b.queued_cost for b in self.books)
        for b in self.books:
            if b.in_flight is not None:
                left += self.current_remaining(b, self.rate(b, scale), now)
        return left / sum(rates)

    def victim_view(self, book: DeviceBook, scale: float, now: float) -> VictimView:
        # A paused, stalled or still-loading victim starts nothing: rate 0
        # tells the policy its whole queue is free to take.
        stopped = book.paused or book.stalled or not book.ready
        rate = 0.0 if stopped else self.rate(book, scale)
        current = self.current_remaining(book, rate, now)
        report = self.progress.reports.get(book.spec.index)
        if rate > 0 and book.in_flight is not None and report:
            # Its progress on this very unit says better when it will be free than its
            # average speed does (this input may be slower than the ones before it):
            # what is left, in cost at ``rate``, so that current / rate is the time left.
            flight = book.in_flight
            work = self.progress.work(flight.unit)
            _, done, unit_rate = self.progress.estimate(flight, work, rate, now, report)
            if unit_rate > 0:
                left = work.cost(flight.unit.begin, flight.unit.stop) - done
                current = max(0.0, left) * rate / unit_rate
        tail = book.queue[-1].cost if book.queue else 0.0
        return VictimView(book.spec.index, rate, current, book.queued_cost, len(book.queue), tail)

    # -- moving units --------------------------------------------------------------------
    def start(self, book: DeviceBook, unit: Unit, stolen: bool, ahead: bool) -> InFlight:
        """``unit`` is in flight on ``book`` now (``ahead``: its worker has it already)."""
        now = self.clock()
        if self.counts.first_dispatch is None:
            self.counts.first_dispatch = now
        attempt = self.attempts.get(unit.uid, 0) + 1
        self.attempts[unit.uid] = attempt
        book.in_flight = InFlight(unit, attempt, now, stolen, ahead=ahead)
        book.last_progress = now
        return book.in_flight

    def steal(self, thief: DeviceBook, accept: Callable[[Unit], bool]) -> Unit | None:
        """A unit from the tail of the queue of the first victim the policy allows,
        among the units ``accept`` allows on ``thief``; recorded as a steal."""
        now = self.clock()
        scale = self.base_rate()
        views = [self.victim_view(b, scale, now) for b in self.books
                 if b is not thief and b.alive and b.queue]
        for victim_index in steal_candidates(thief.spec.index, self.rate(thief, scale), views):
            victim = self.books[victim_index]
            unit = victim.pop_tail(accept)
            if unit is None:
                continue
            victim.stolen_out += 1
            thief.stolen_in += 1
            self.log.steal(thief, victim, unit, now)
            return unit
        return None

    def place(self, unit: Unit, avoid: DeviceBook | None = None, front: bool = True,
              exclude: set[int] | frozenset[int] = frozenset(), fallback: bool = True) -> DeviceBook | None:
        """Queue ``unit`` on the live device that would finish it earliest, never
        on a device in ``exclude``. ``avoid`` (and, with ``fallback``, the
        excluded) are used only when no other device can take it. None: nowhere."""
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
