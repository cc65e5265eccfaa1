"""The in-flight half of splitting: cutting a running unit's rest off for an idle device.

Mixed into the Coordinator; called from the dispatcher thread under its lock::

    idle thief, nothing worth stealing ─▶ find_cut() ─▶ Cut(uid, at, until) to the victim
    victim's worker ─▶ CutAt(uid, at') ─▶ cut_answered(): head [begin, at') stays in flight,
                                          tail [at', stop) goes to the thief (or the best queue)
    victim's worker ─▶ CutAt(uid, None), or Done first ─▶ nothing changes
    a stop ─▶ stop_cuts(): a Cut at the next boundary for every unit in flight ─▶ the head is
              done and recorded, the tail waits in a queue for the resume (no thief)

**The contract, for any backend** (the local pool does this; a Ray backend does
the same with actor calls instead of a pipe):

1. When a device has nothing to run (``next_unit`` returned None), call
   ``find_cut(thief, reports)``; on ``(victim, cut)`` deliver ``cut`` to the
   victim's running task. At most one cut is pending per victim and per thief.
2. The victim's side answers exactly once with ``CutAt(cut.uid, at)``. ``at`` is
   an absolute position ``(record, part)`` with ``cut.at <= at <= cut.until``
   and ``unit.begin < at < unit.stop``, at or past what the task has done; from
   then on the task must stop before ``at`` (its progress callback returns the
   new stop). Anything else, including a Cut for a unit that already ended,
   is answered ``CutAt(uid, None)``. The local worker's ``UnitControl.answer``
   is the reference.
3. The backend passes every answer to ``cut_answered(victim, uid, at)`` before
   the unit's Done, in the order the victim sent them. A returned
   ``(thief, flight)`` is the tail to start on the thief now.
4. Any end of the victim's unit (done, failed, interrupted, death) settles a
   pending cut through ``forget_cuts`` (the coordinator's methods do it).

A cut exists only once its worker confirmed it, so whatever the timing
(Done racing the Cut, pause, drain, a death after the confirmation) every
part belongs to exactly one unit: the head is what the victim's flight now
covers (and is requeued if the victim dies), the tail is a unit of its own.

Where to cut is priced in work (``inputs.work``): record starts, and part
starts inside long records, so one complete genome can be shared by every
device. Each share keeps at least the cut floor (``cut_floor``: --split-min,
by default 10 × the measured fixed cost of a unit, in seconds of that
device's work: ``planning.cut_floor_seconds`` says why it is below the plan's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..control import snapshot as S
from ..inputs.units import Unit, cut_unit, work_of
from ..inputs.work import Position, Work, span_text
from ..policy.planning import cut_floor_seconds
from ..policy.sizes import AUTO, RECORDS, RESIDUES, SECONDS
from ..policy.stealing import CUT_LATENCY_S, cut_cost, cut_pays
from .device_book import InFlight
from .messages import Cut

if TYPE_CHECKING:
    from .device_book import DeviceBook

HANDOFF_WEIGHT = 0.1  # EWMA weight of each unit's measured hand-off: steady, yet follows a change of load


@dataclass(frozen=True)
class PendingCut:
    uid: str  # the unit the victim's worker runs (and names) when the Cut was sent
    thief: int | None  # device that asked for the rest; None: a stop's cut (the rest waits for the resume)
    at: tuple[int, int]  # the position the Cut proposed


class Splitting:
    """State it uses on the coordinator: ``splitting`` (task can stop early and
    splitting is on), ``split_min`` (a Size), ``parts``, ``indexes`` (by input
    path), ``cuts``, ``task_overhead_s``, ``handoff_s``, ``mean_record``."""

    def work(self, unit: Unit) -> Work:
        return work_of(unit, self.indexes.get(unit.path), self.parts)

    # -- the floor -------------------------------------------------------------------
    @property
    def fixed_cost_s(self) -> float:
        """What one unit costs beyond its records: the task's measured figure plus
        the hand-off this run measures (dispatch to Done, minus the task's own time)."""
        return self.task_overhead_s + self.handoff_s

    def note_handoff(self, wall_s: float, task_s: float) -> None:
        sample = max(0.0, wall_s - task_s)
        self.handoff_s += HANDOFF_WEIGHT * (sample - self.handoff_s)

    def cut_floor(self, rate: float) -> float:
        """The least work (residues) a piece may hold on a device of ``rate`` residues/s."""
        size = self.split_min
        if size.unit == RESIDUES:
            return size.amount
        if size.unit == RECORDS:
            return size.amount * self.mean_record
        seconds = size.amount if size.unit == SECONDS else cut_floor_seconds(self.fixed_cost_s)
        assert size.unit in (SECONDS, AUTO)
        return seconds * rate

    # -- where the victim is -------------------------------------------------------------
    def reached(self, flight: InFlight, report: Mapping | None) -> tuple[Position, float] | None:
        """The position the victim last reported on its unit, and when (None: no report yet)."""
        unit = flight.unit
        if not report or report.get("unit") != unit.uid or not report.get("progress_time"):
            return None
        records, part = int(report.get("progress") or 0), int(report.get("part") or 0)
        pos = Position(unit.start + records, part)
        if records == 0 and part < unit.part:
            pos = unit.begin
        return min(max(pos, unit.begin), unit.stop), float(report["progress_time"])

    def _progress(self, book: DeviceBook, work: Work, rate: float, now: float,
                  report: Mapping | None) -> tuple[Position, float, float]:
        """The victim's reached position, its work done (cost from its unit's start,
        moved on since the report) and its speed on this unit (cost units/s):
        measured from its last progress report when it has one (a device that has
        finished nothing yet has only a prior, which can be far off)."""
        flight = book.in_flight
        unit = flight.unit
        pos, since, done = unit.begin, flight.started, 0.0
        seen = self.reached(flight, report)
        if seen is not None:
            reported, at = seen
            cost = work.cost(unit.begin, reported)
            if cost > 0 and at > flight.started:
                pos, since, done = reported, at, cost
                rate = cost / (at - flight.started)
        return pos, done + max(0.0, now - since) * rate, rate

    def flight_fraction(self, flight: InFlight, report: Mapping | None) -> float | None:
        """How much of the running unit is done, by work (for the dashboard)."""
        seen = self.reached(flight, report)
        if seen is None:
            return None
        work = self.work(flight.unit)
        total = work.cost(flight.unit.begin, flight.unit.stop)
        return min(1.0, work.cost(flight.unit.begin, seen[0]) / total) if total > 0 else 1.0

    # -- the cut -------------------------------------------------------------------------
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
        tail_min = self.cut_floor(thief_rate)
        best: tuple[float, int, Cut] | None = None
        for book in self.books:
            flight = book.in_flight
            if book is thief or flight is None or book.stalled or book.dead:
                continue
            if book.spec.index in self.cuts or flight.cut:
                continue
            unit = flight.unit
            work = self.work(unit)
            pos, done, rate = self._progress(book, work, self.rate(book, scale), now,
                                             (reports or {}).get(book.spec.index))
            total = work.cost(unit.begin, unit.stop)
            after = book.queued_cost / rate if book.queue and rate > 0 else 0.0
            head_min = self.cut_floor(rate)
            latency = CUT_LATENCY_S + self.fixed_cost_s
            c = cut_cost(done, total, rate, thief_rate, head_min=head_min, tail_min=tail_min,
                         latency_s=latency, victim_after_s=after)
            if c is None:
                continue
            base = work.before(unit.begin)
            lo = work.around(base + done, pos, unit.stop)[1]  # the first cut point not yet reached
            at = work.nearest(base + c, lo, unit.stop)
            until = work.around(base + total - tail_min, lo, unit.stop)[0]
            if not (unit.begin < at < unit.stop) or at > until:
                continue
            if not cut_pays(done, total, work.cost(unit.begin, at), rate, thief_rate, latency, after):
                continue
            left_s = (total - done) / rate
            if best is None or left_s > best[0]:
                best = (left_s, book.spec.index, Cut(unit.uid, tuple(at), tuple(until)))
        if best is None:
            return None
        _, victim, cut = best
        self.cuts[victim] = PendingCut(cut.uid, thief_index, cut.at)
        return victim, cut

    def stop_cuts(self, reports: Mapping | None = None) -> list[tuple[int, Cut]]:
        """A stop (not a stop now) is under way: a Cut at its next record or part
        boundary for each unit in flight not yet asked, so that it ends within one
        batch and keeps what it did; the rest waits in a queue for the resume. The
        backend delivers them as ``find_cut``'s. A device whose cut for an idle one
        is unanswered is asked on a later pass, once that cut is settled."""
        if not (self.stopping and self.splitting) or self.stop_now:
            return []
        asks = []
        for book in self.books:
            flight, index = book.in_flight, book.spec.index
            if flight is None or flight.stop_asked or index in self.cuts or book.dead:
                continue
            flight.stop_asked = True
            unit, work = flight.unit, self.work(flight.unit)
            seen = self.reached(flight, (reports or {}).get(index))
            pos = seen[0] if seen is not None else unit.begin
            at = work.around(work.before(pos), pos, unit.stop)[1]  # the first boundary past it
            if unit.begin < at < unit.stop:  # else it is in its last record or part: it ends by itself
                running = unit.split_from if flight.cut else unit.uid
                self.cuts[index] = PendingCut(running, None, tuple(at))
                asks.append((index, Cut(running, tuple(at), tuple(unit.stop))))
        return asks

    def cut_answered(self, victim_index: int, uid: str,
                     at: tuple[int, int] | None) -> tuple[int, InFlight] | None:
        """The victim's worker answered a Cut. With a position: the flight keeps the
        head, the tail becomes a unit. Returns (thief, flight) when the tail goes
        straight to the waiting thief (the caller sends it), else None."""
        pending = self.cuts.get(victim_index)
        if pending is None or pending.uid != uid:
            return None  # answer to a cut already settled (the unit ended first)
        del self.cuts[victim_index]
        victim = self.books[victim_index]
        flight = victim.in_flight
        if at is None or flight is None:
            return None
        running = flight.unit.split_from if flight.cut else flight.unit.uid
        if running != uid or (flight.cut and pending.thief is not None):  # a thief's cut: once per unit
            return None
        unit = flight.unit
        at = Position(*at)
        if not unit.begin < at < unit.stop:
            raise RuntimeError(f"{victim.spec.label} agreed to cut {uid} at {tuple(at)}, outside its unit")
        head, tail = cut_unit(unit, at, self.indexes.get(unit.path), self.parts)
        flight.unit, flight.cut = replace(head, split_from=running), True  # its worker names it as it was sent
        self.attempts[flight.unit.uid] = flight.attempt
        if unit.uid in self.deaths:
            self.deaths[flight.unit.uid] = self.deaths[unit.uid]
        self.units_total += 1
        if pending.thief is None:
            return self._leave_tail(victim, unit, flight.unit, tail)
        return self._hand_tail(victim, self.books[pending.thief], tail)

    def _leave_tail(self, victim: DeviceBook, unit: Unit, head: Unit, tail: Unit) -> None:
        """A stop's cut: the tail waits at the head of the victim's queue (a stop starts
        nothing) and the run ends interrupted; the resume does it."""
        victim.push(tail, front=True)
        at = span_text(tail.begin, tail.begin).split("–")[0]
        message = (f"{victim.spec.label} stopped {unit.rel} [{unit.span}) at {at}: "
                   f"{head.count:,} of {unit.count:,} records kept, the rest left for the resume")
        self.events.append(S.RunEvent(next(self._seq), self.clock(), S.EV_INFO, "info", message,
                                      victim.spec.index, unit=head.uid))

    def _hand_tail(self, victim: DeviceBook, thief: DeviceBook, tail: Unit) -> tuple[int, InFlight] | None:
        now = self.clock()
        victim.split_out += 1
        self.splits_total += 1
        takes = (thief.in_flight is None and not thief.sent and thief.ready and thief.accepts_work
                 and not self.stopping)
        target = thief if takes else None
        if target is None:
            target = self._place(tail, front=True)
            if target is None:
                victim.push(tail, front=True)  # nobody takes work now: it waits (or fails at the end)
                target = victim
        target.split_in += 1
        seq = next(self._seq)
        record = S.StealEvent(seq, now, target.spec.index, victim.spec.index, tail.uid, tail.sequences)
        message = f"{target.spec.label} ⇶ split {tail.rel} [{tail.span}) from {victim.spec.label}"
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
