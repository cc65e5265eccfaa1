"""The in-flight half of splitting: cutting a running unit's rest off for an idle device.

Mixed into the Coordinator; called from the dispatcher thread under its lock::

    idle thief, nothing worth stealing ─▶ find_cut() ─▶ Cut(uid, k) to the victim's worker
    victim's worker ─▶ CutAt(uid, k') ─▶ cut_answered(): head [start, k') stays in flight,
                                         tail [k', end) goes to the thief (or the best queue)
    victim's worker ─▶ CutAt(uid, None), or Done first ─▶ nothing changes

A cut exists only once its worker confirmed it, so whatever the timing
(Done racing the Cut, pause, drain, a death after the confirmation) every
record belongs to exactly one unit: the head is what the victim's flight now
covers (and is requeued if the victim dies), the tail is a unit of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ..control import snapshot as S
from ..inputs.units import Unit, split_unit
from ..policy.stealing import split_at
from .device_book import InFlight
from .messages import Cut

if TYPE_CHECKING:
    from ..inputs.record_index import RecordIndex
    from .device_book import DeviceBook


@dataclass(frozen=True)
class PendingCut:
    uid: str  # the victim's unit when the Cut was sent
    thief: int  # device that asked for the rest
    at: int  # absolute record the Cut proposed


class Splitting:
    """State it uses on the coordinator: ``splitting`` (task can stop early and
    splitting is on), ``split_min``, ``indexes`` (by input path), ``cuts``."""

    def _cost_of(self, unit: Unit):  # -> Callable[[int, int], float], records relative to unit.start
        index: RecordIndex | None = self.indexes.get(unit.path)
        if index is not None and index.records >= unit.end:
            s = unit.start
            return lambda a, b: max(0.0, index.residues_before(s + b) - index.residues_before(s + a))
        per = unit.cost / unit.count
        return lambda a, b: max(0, b - a) * per

    def _progress(self, book: DeviceBook, rate: float, now: float,
                  report: Mapping | None) -> tuple[int, float]:
        """The victim's records done and its speed on this unit (cost units/s):
        measured from its last progress report when it has one (a device that has
        finished nothing yet has only a prior, which can be far off), moved on since."""
        flight = book.in_flight
        unit = flight.unit
        per = unit.cost / unit.count if unit.count else 0.0
        since, done = flight.started, 0
        if report and report.get("unit") == unit.uid and report.get("progress_time"):
            reported, at = int(report.get("progress") or 0), float(report["progress_time"])
            if reported > 0 and at > flight.started and per > 0:
                since, done = at, reported
                rate = reported * per / (at - flight.started)
        if per > 0:
            done += int(max(0.0, now - since) * rate / per)
        return min(done, unit.count), rate

    def find_cut(self, thief_index: int, reports: Mapping | None = None) -> tuple[int, Cut] | None:
        """An idle device found nothing to steal: the victim to ask for the rest of
        its running unit, and the Cut to send it; None when no cut is worth it."""
        thief = self.books[thief_index]
        if not (self.splitting and self.stealing) or self.stopping or thief.in_flight is not None:
            return None
        if not (thief.ready and thief.accepts_work) or any(c.thief == thief_index for c in self.cuts.values()):
            return None
        now, scale = self.clock(), self.base_rate()
        thief_rate = self.rate(thief, scale)
        best: tuple[float, int, Cut] | None = None
        for book in self.books:
            flight = book.in_flight
            if book is thief or flight is None or book.queue or book.stalled or book.dead:
                continue
            if book.spec.index in self.cuts or flight.cut or flight.unit.count < 2 * self.split_min:
                continue
            done, rate = self._progress(book, self.rate(book, scale), now,
                                        (reports or {}).get(book.spec.index))
            cost = self._cost_of(flight.unit)
            k = split_at(done, flight.unit.count, rate, thief_rate, cost, self.split_min)
            if k is None:
                continue
            left_s = cost(done, flight.unit.count) / rate
            if best is None or left_s > best[0]:
                best = (left_s, book.spec.index, Cut(flight.unit.uid,
                                                     flight.unit.start + k, self.split_min))
        if best is None:
            return None
        _, victim, cut = best
        self.cuts[victim] = PendingCut(cut.uid, thief_index, cut.at)
        return victim, cut

    def cut_answered(self, victim_index: int, uid: str, at: int | None) -> tuple[int, InFlight] | None:
        """The victim's worker answered a Cut. With a boundary: the flight keeps the
        head, the tail becomes a unit. Returns (thief, flight) when the tail goes
        straight to the waiting thief (the caller sends it), else None."""
        pending = self.cuts.get(victim_index)
        if pending is None or pending.uid != uid:
            return None  # answer to a cut already settled (the unit ended first)
        del self.cuts[victim_index]
        victim = self.books[victim_index]
        flight = victim.in_flight
        if at is None or flight is None or flight.cut or flight.unit.uid != uid:
            return None
        unit = flight.unit
        if not unit.start < at < unit.end:
            raise RuntimeError(f"{victim.spec.label} agreed to cut {uid} at {at}, outside its unit")
        head, tail = split_unit(unit, at, self.indexes.get(unit.path))
        flight.unit, flight.cut = head, True
        self.attempts[head.uid] = flight.attempt
        if unit.uid in self.deaths:
            self.deaths[head.uid] = self.deaths[unit.uid]
        self.units.append(tail)
        return self._hand_tail(victim, self.books[pending.thief], tail)

    def _hand_tail(self, victim: DeviceBook, thief: DeviceBook, tail: Unit) -> tuple[int, InFlight] | None:
        now = self.clock()
        victim.split_out += 1
        self.splits_total += 1
        takes = (thief.in_flight is None and thief.ready and thief.accepts_work and not self.stopping)
        target = thief if takes else None
        if target is None:
            target = self._place(tail, front=True)
            if target is None:
                victim.push(tail, front=True)  # nobody takes work now: it waits (or fails at the end)
                target = victim
        target.split_in += 1
        seq = next(self._seq)
        record = S.StealEvent(seq, now, target.spec.index, victim.spec.index, tail.uid, tail.count)
        message = (f"{target.spec.label} ⇶ split {tail.rel} [{tail.start:,}–{tail.end:,}) "
                   f"from {victim.spec.label}")
        self.events.append(S.RunEvent(seq, now, S.EV_SPLIT, "info", message, target.spec.index,
                                      record, unit=tail.uid))
        if not takes:
            return None
        self.attempts[tail.uid] = 1
        thief.in_flight = InFlight(tail, 1, now, True)
        thief.last_progress = now
        return thief.spec.index, thief.in_flight

    def forget_cuts(self, index: int) -> None:
        """``index`` finished, failed or lost its unit, or died: its pending cut
        (as victim) is void, and a cut it waited for (as thief) is no longer its."""
        self.cuts.pop(index, None)
