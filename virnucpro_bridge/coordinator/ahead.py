"""Units sent ahead: the Coordinator's half (the local backend's ``ahead.py`` is the other).

A worker that is sent one unit at a time waits a round trip after each (its
Done to the dispatcher, the next unit back); on units of milliseconds that is
most of the time, and every unit costs both processes a wake-up. So the
dispatcher sends the first few *short* units of a device's queue ahead, in one
message, and the worker runs them in order::

    queue:  U2 U3 U4 │ U5 U6 ...     in flight: U1
            sent = 3 │ stealable, given back, moved as ever

The units sent ahead stay in the queue (its depth, its cost estimates), but
nothing may take them elsewhere while the worker may still start them: steals
and give-backs skip them, and a unit queued "at the front" goes after them.
They leave the worker's hands in one of three ways only:

- the worker runs the next one: the dispatcher puts it in flight (``next_unit``,
  or, when it had not, on the Done/Failed that names it: ``flight_of``);
- the dispatcher withdraws them (pause, drain, stop): the worker drops those
  it has not started and says how many (``withdrawn``);
- the worker process is gone (``worker_gone``).

So a unit never runs on two devices, and its one result is the one the
coordinator accepted: the same guarantee as for the unit in flight.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..inputs.units import Unit
from .commands import RunControls
from .device_book import DeviceBook, InFlight
from .queues import Queues
from .recovery import Recovery


class SentAhead:
    def __init__(self, books: Sequence[DeviceBook], queues: Queues, recovery: Recovery,
                 controls: RunControls, *, unit_overhead_s: float) -> None:
        """``unit_overhead_s``: the task's fixed cost per unit, added to each unit's estimate."""
        self.books, self.queues, self.recovery, self.controls = books, queues, recovery, controls
        self.unit_overhead_s = unit_overhead_s

    def send_ahead(self, index: int, budget_s: float, most: int) -> list[Unit]:
        """Units of device ``index``'s queue to send ahead now (marked sent): those
        at its head, while the units sent ahead come to at most ``most`` and their
        estimated time (work at the device's rate plus the task's fixed cost per
        unit) to at most ``budget_s``, and to at most half its queue; none while it
        still holds half of either limit, so they go in batches. None while it may
        not start new units."""
        book = self.books[index]
        if (self.controls.stopping or book.withdrawing or book.in_flight is None or not book.ready
                or not book.accepts_work or 2 * book.sent > most):
            return []
        # At most half the queue, so as many units as it holds stay for thieves behind them:
        # at the end of a run (where assignment left the smallest units) nothing is held.
        most = min(most, len(book.queue) // 2)
        rate, fixed = self.queues.rate(book), self.unit_overhead_s
        seconds = [unit.cost / rate + fixed for unit in itertools.islice(book.queue, most)]
        if book.sent and 2 * sum(seconds[:book.sent]) > budget_s:
            return []
        total, count = 0.0, 0
        for s in seconds:  # from the head: those sent already count against the budget
            total += s
            if total > budget_s:
                break
            count += 1
        return book.reserve(count - book.sent)

    def needs_withdraw(self, index: int) -> bool:
        """Device ``index``'s worker holds units sent ahead that it may not start
        (paused, draining, the run stopping); marks a withdrawal under way."""
        book = self.books[index]
        if not book.sent or book.withdrawing or book.dead:
            return False  # a dead device's worker is stopped or gone: it drops them itself
        if self.controls.stopping or book.paused or book.draining:
            book.withdrawing = True
            return True
        return False

    def withdraw_all(self, index: int) -> bool:
        """The run is winding down: whether device ``index``'s worker must be told to
        drop what it holds ahead (marks a withdrawal under way)."""
        book = self.books[index]
        if book.sent and not book.withdrawing:
            book.withdrawing = True
            return True
        return False

    def withdrawn(self, index: int, count: int) -> None:
        """The worker dropped its last ``count`` units sent ahead. One it started
        before it read the Withdraw is still to be answered: it is in flight now."""
        book = self.books[index]
        book.withdrawing = False
        book.release(count)
        if book.sent and book.in_flight is None:
            self._start_sent(book)
        if count and (book.draining or not book.alive):
            self.recovery.give_back(book)

    def worker_gone(self, index: int) -> None:
        """Device ``index``'s worker process is gone: it holds nothing any more."""
        book = self.books[index]
        book.withdrawing = False
        if book.sent:
            book.release()
            if not book.alive:
                self.recovery.give_back(book)

    def flight_of(self, book: DeviceBook, uid: str, what: str) -> InFlight:
        """The flight a worker's answer about ``uid`` settles: the one in flight, or
        the first unit sent ahead, which the worker started before the dispatcher
        put it in flight (paused, draining, stopping: a withdrawal was under way)."""
        flight = book.in_flight
        if flight is not None:
            # A unit cut in flight is the head of the one the worker runs (and names).
            running = flight.unit.split_from if flight.cut else flight.unit.uid
            if not uid or uid == running:
                return flight
        if flight is None and uid and book.sent and book.queue[0].uid == uid:
            return self._start_sent(book)
        raise RuntimeError(f"{book.spec.label} reported {what} it was not given ({uid or 'unnamed'})")

    def _start_sent(self, book: DeviceBook) -> InFlight:
        """The first unit sent ahead is in flight now: its worker started it."""
        unit = book.pop_head()
        assert unit is not None  # book.sent counts units at the head of its queue
        return self.queues.start(book, unit, stolen=False, ahead=True)
