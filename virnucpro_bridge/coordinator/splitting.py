"""The in-flight half of splitting: cutting a running unit's rest off for an idle device.

Called from the dispatcher thread under the coordinator's lock::

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
   pending cut through ``forget`` (the coordinator's methods do it).

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..control import snapshot as S
from ..inputs.units import Unit, cut_unit
from ..inputs.work import Position, span_text
from ..policy.planning import cut_floor_seconds
from ..policy.sizes import AUTO, RECORDS, RESIDUES, SECONDS, Size
from ..policy.stealing import CUT_LATENCY_S, cut_cost, cut_pays
from .commands import RunControls
from .counts import RunCounts
from .device_book import DeviceBook, InFlight
from .events import EventLog
from .messages import Cut, Reports
from .progress import UnitProgress
from .queues import Queues
from .recovery import Recovery

HANDOFF_WEIGHT = 0.1  # EWMA weight of each unit's measured hand-off: steady, yet follows a change of load


@dataclass(frozen=True)
class PendingCut:
    uid: str  # the unit the victim's worker runs (and names) when the Cut was sent
    thief: int | None  # device that asked for the rest; None: a stop's cut (the rest waits for the resume)
    at: tuple[int, int]  # the position the Cut proposed


class Splitting:
    def __init__(self, books: Sequence[DeviceBook], queues: Queues, recovery: Recovery, progress: UnitProgress,
                 controls: RunControls, counts: RunCounts, log: EventLog, clock: Callable[[], float], *,
                 enabled: bool, split_min: Size, unit_overhead_s: float, mean_record: float) -> None:
        """``enabled``: the task can stop a running unit early and --no-split was not
        given; ``split_min``: --split-min; ``unit_overhead_s``: the task's measured
        cost of a unit beyond its records; ``mean_record``: residues per record over
        the plan (converts a --split-min in records into work)."""
        self.books, self.queues, self.recovery, self.progress = books, queues, recovery, progress
        self.controls, self.counts, self.log, self.clock = controls, counts, log, clock
        self.enabled = enabled
        self.split_min = split_min
        self.task_overhead_s = unit_overhead_s
        self.mean_record = mean_record
        self.handoff_s = 0.0  # measured per unit: dispatch to Done, less the task's own time
        self.cuts: dict[int, PendingCut] = {}  # by victim: Cut sent, no answer yet

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

    # -- the cut -------------------------------------------------------------------------
    def find_cut(self, thief_index: int, reports: Reports | None = None) -> tuple[int, Cut] | None:
        """An idle device found nothing to steal: the victim to ask for the rest of
        its running unit, and the Cut to send it; None when no cut is worth it."""
        thief = self.books[thief_index]
        if not (self.enabled and self.controls.stealing) or self.controls.stopping or thief.in_flight is not None:
            return None
        if not (thief.ready and thief.accepts_work) or any(c.thief == thief_index for c in self.cuts.values()):
            return None
        now, scale = self.clock(), self.queues.base_rate()
        thief_rate = self.queues.rate(thief, scale)
        tail_min = self.cut_floor(thief_rate)
        best: tuple[float, int, Cut] | None = None
        for book in self.books:
            flight = book.in_flight
            if book is thief or flight is None or book.stalled or book.dead:
                continue
            if book.spec.index in self.cuts or flight.cut:
                continue
            unit = flight.unit
            work = self.progress.work(unit)
            pos, done, rate = self.progress.estimate(flight, work, self.queues.rate(book, scale), now,
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
                best = (left_s, book.spec.index, Cut(unit.uid, _plain(at), _plain(until)))
        if best is None:
            return None
        _, victim, cut = best
        self.cuts[victim] = PendingCut(cut.uid, thief_index, cut.at)
        return victim, cut

    def stop_cuts(self, reports: Reports | None = None) -> list[tuple[int, Cut]]:
        """A stop (not a stop now) is under way: a Cut at its next record or part
        boundary for each unit in flight not yet asked, so that it ends within one
        batch and keeps what it did; the rest waits in a queue for the resume. The
        backend delivers them as ``find_cut``'s. A device whose cut for an idle one
        is unanswered is asked on a later pass, once that cut is settled."""
        if not (self.controls.stopping and self.enabled) or self.controls.stop_now:
            return []
        asks = []
        for book in self.books:
            flight, index = book.in_flight, book.spec.index
            if flight is None or flight.stop_asked or index in self.cuts or book.dead:
                continue
            flight.stop_asked = True
            unit, work = flight.unit, self.progress.work(flight.unit)
            seen = self.progress.reached(flight, (reports or {}).get(index))
            pos = seen[0] if seen is not None else unit.begin
            at = work.around(work.before(pos), pos, unit.stop)[1]  # the first boundary past it
            if unit.begin < at < unit.stop:  # else it is in its last record or part: it ends by itself
                running = unit.split_from if flight.cut else unit.uid
                self.cuts[index] = PendingCut(running, None, _plain(at))
                asks.append((index, Cut(running, _plain(at), _plain(unit.stop))))
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
        head, tail = cut_unit(unit, at, self.progress.indexes.get(unit.path), self.progress.parts)
        flight.unit, flight.cut = replace(head, split_from=running), True  # its worker names it as it was sent
        self.queues.attempts[head.uid] = flight.attempt
        self.recovery.inherit(unit.uid, head.uid)
        self.counts.units_total += 1
        if pending.thief is None:
            self._leave_tail(victim, unit, flight.unit, tail)
            return None
        return self._hand_tail(victim, self.books[pending.thief], tail)

    def _leave_tail(self, victim: DeviceBook, unit: Unit, head: Unit, tail: Unit) -> None:
        """A stop's cut: the tail waits at the head of the victim's queue (a stop starts
        nothing) and the run ends interrupted; the resume does it."""
        victim.push(tail, front=True)
        at = span_text(tail.begin, tail.begin).split("–")[0]
        message = (f"{victim.spec.label} stopped {unit.rel} [{unit.span}) at {at}: "
                   f"{head.count:,} of {unit.count:,} records kept, the rest left for the resume")
        self.log.add(S.EV_INFO, "info", message, victim.spec.index, unit=head.uid)

    def _hand_tail(self, victim: DeviceBook, thief: DeviceBook, tail: Unit) -> tuple[int, InFlight] | None:
        now = self.clock()
        victim.split_out += 1
        self.counts.splits_total += 1
        takes = (thief.in_flight is None and not thief.sent and thief.ready and thief.accepts_work
                 and not self.controls.stopping)
        target = thief if takes else None
        if target is None:
            target = self.queues.place(tail, front=True)
            if target is None:
                victim.push(tail, front=True)  # nobody takes work now: it waits (or fails at the end)
                target = victim
        target.split_in += 1
        self.log.split(target, victim, tail, now)
        if not takes:
            return None
        return thief.spec.index, self.queues.start(thief, tail, stolen=True, ahead=False)

    def forget(self, index: int) -> None:
        """``index`` finished, failed or lost its unit, or died: its pending cut
        (as victim) is void, and a cut it waited for (as thief) is no longer its."""
        self.cuts.pop(index, None)


def _plain(pos: Position) -> tuple[int, int]:
    """A position as the plain pair a Cut carries to the worker."""
    return pos.record, pos.part
