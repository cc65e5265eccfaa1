"""One pass of the Ray dispatcher: replies in, Coordinator calls, work out.

Split from ``backend.py`` the way ``LocalPool._step`` is split from its
wait: ``Replies.wait`` fetches replies (and writes results) outside
the coordinator's lock; ``LoopStep.run`` hands them to the Coordinator under
the lock, decides what goes out (``Outgoing``: jobs, withdrawals, cuts),
then reads the jobs' records and makes the calls outside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...coordinator.device_book import InFlight
from ...coordinator.messages import Cut, CutAt, Done, Failed, Reports, SetupFailed
from ...errors import OutputError
from ...hardware.devices import capability_weight
from ...inputs.units import Unit
from ..base import Scheduler, Sink
from .lanes import Lanes, Ticket
from .protocol import ActorReady, Placement
from .replies import ActorGone

Reply = tuple[str, int, object]  # (what the call was: "unit", "cut", "report" ..., device, its value)


class ActorPool(Protocol):
    """What a pass uses of the Ray backend (``backend.RayPool`` is the one): its
    actors' lanes, reports and placements, and the calls it makes on them. (A
    protocol, so that this module needs nothing of ``backend.py``, which runs it.)"""

    coord: Scheduler
    sink: Sink
    lanes: Lanes
    status: MutableMapping[int, Any]  # device -> its actor's last report
    placements: list[Placement | None]
    node_names: dict[str, str]
    expected_exit: set[int]
    sink_calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]  # made by the driver after the pass

    def outputs(self, unit: Unit) -> str: ...
    def poll_reports(self) -> None: ...
    def submit(self, i: int, tickets: list[Ticket], now: bool = True) -> list[tuple[Ticket, Failed]]: ...
    def withdraw(self, i: int, tickets: list[int]) -> None: ...
    def cut(self, i: int, ticket: int, cut: Cut) -> None: ...
    def ensure_collecting(self) -> None: ...
    def unplaced(self, now: float) -> list[int]: ...
    def stop_actor(self, i: int) -> None: ...
    def restart(self, i: int) -> None: ...
    def kill(self, i: int) -> None: ...
    def forget(self, i: int) -> None: ...
    def abort(self) -> None: ...


@dataclass
class Outgoing:
    """What one pass sends, decided under the lock, sent outside it."""

    jobs: dict[int, list[Ticket]] = field(default_factory=dict)
    withdraw: dict[int, list[int]] = field(default_factory=dict)
    cuts: list[tuple[int, int, Cut]] = field(default_factory=list)  # (victim, its ticket, cut)

    def job(self, i: int, tickets: list[Ticket]) -> None:
        if tickets:
            self.jobs.setdefault(i, []).extend(tickets)

    def void(self, i: int, tickets: list[int]) -> None:
        if tickets:
            self.withdraw.setdefault(i, []).extend(tickets)


class LoopStep:
    def __init__(self, pool: ActorPool) -> None:
        self.pool = pool
        self.housekeeping = pool.coord.housekeeping()
        self.unreadable: list[tuple[int, int, Failed]] = []  # (device, running ticket, why)

    def run(self, replies: list[tuple[str, int, object]]) -> tuple[bool, bool]:
        """Returns (going, sample) as ``LocalPool._step`` does."""
        pool, coord = self.pool, self.pool.coord
        tick_due = self.housekeeping.tick_due()
        if tick_due:
            pool.poll_reports()
        reports = coord.read_reports() if tick_due else None
        out = Outgoing()
        with coord.lock:
            going, sample = self._step(replies, reports, out)
        self._send(out)
        return going, sample

    def _send(self, out: Outgoing) -> None:
        """Reading inputs and remote calls stay outside the lock."""
        pool = self.pool
        for i, tickets in out.jobs.items():
            lane = pool.lanes[i]
            new = {t.id for t in tickets}
            # The actor may run dry before its next collect comes back: send these now.
            # Otherwise they go with that collect call (one call, not two).
            now = (lane.running is not None and lane.running.id in new) or all(t in new for t in lane.ahead)
            for ticket, failed in pool.submit(i, tickets, now=now):
                if lane.running is ticket:
                    self.unreadable.append((i, ticket.id, failed))  # fails as the unit, next pass
                else:
                    pool.lanes.drop(i, ticket)  # sent ahead: it fails when its turn comes
        for i, voided in out.withdraw.items():
            pool.withdraw(i, voided)
        for victim, ticket_id, cut in out.cuts:
            pool.cut(victim, ticket_id, cut)
        pool.ensure_collecting()

    def _step(self, replies: list[Reply], reports: Reports | None, out: Outgoing) -> tuple[bool, bool]:
        pool, coord = self.pool, self.pool.coord
        just_idle: set[int] = set()
        unreadable, self.unreadable = self.unreadable, []
        for i, ticket_id, failed in unreadable:
            running = pool.lanes[i].running
            if running is not None and running.id == ticket_id:
                self._unit_reply(i, failed, just_idle)
        self._take(replies, just_idle, out)
        now = time.monotonic()
        for i in pool.unplaced(now):
            coord.device_died(i, "Ray could not start its actor (no node has the resources it needs)")
            pool.kill(i)
            pool.forget(i)
        if self.housekeeping.must_stop(now):
            pool.abort()
            return False, False
        steal_due, sample = self.housekeeping.pass_(now, reports, stop_device=pool.stop_actor,
                                                    restart=pool.restart)
        self._void_ahead(out, check_queues=reports is not None)
        for victim, cut in coord.stop_cuts(pool.status):  # a stop: units in flight end at their next boundary
            running = pool.lanes[victim].running
            if running is not None:
                out.cuts.append((victim, running.id, cut))
        self._dispatch(just_idle, steal_due, out)
        return coord.work_left() and coord.can_progress(), sample

    def _take(self, replies: list[Reply], just_idle: set[int], out: Outgoing) -> None:
        for kind, i, value in replies:
            self._reply(kind, i, value, just_idle, out)

    def _dispatch(self, just_idle: set[int], steal_due: bool, out: Outgoing) -> None:
        """Hand work to every idle device (its queue, else a steal, else a cut of
        another's running unit), then top up what each actor holds ahead."""
        pool, coord = self.pool, self.pool.coord
        scale = coord.base_rate()
        for book in coord.books:
            i = book.spec.index
            if not book.ready or book.dead or book.drained:
                continue
            while book.in_flight is None:
                allow = steal_due or i in just_idle
                flight = coord.next_unit(i, allow_steal=allow)
                if flight is None:
                    if allow:
                        self._ask_cut(i, out)
                    break
                early = self._start(i, flight, out)
                if early is None:
                    break
                # Sent ahead and finished already (its result is written): settle it and go on.
                self._unit_reply(i, early, just_idle)
            if book.in_flight is not None and book.accepts_work and not coord.stopping:
                rate = coord.rate(book, scale)

                def seconds(unit: Unit, rate: float = rate) -> float:
                    return unit.cost / rate

                out.job(i, pool.lanes.top_up(i, book.queue, seconds))

    def _start(self, i: int, flight: InFlight, out: Outgoing) -> Done | Failed | None:
        """``flight`` goes to device ``i``: promoted if sent ahead (returns its reply
        when that came already), else a new job."""
        pool = self.pool
        flight.output = pool.outputs(flight.unit)
        started = pool.lanes.start(i, flight.unit)
        if started.withdraw is not None:  # stolen while sent ahead to another device
            other, ticket = started.withdraw
            out.void(other, [ticket])
        if started.send:
            out.job(i, [started.ticket])
        early: Done | Failed | None = started.early  # the actor's reply to a unit: one of these
        return early

    def _ask_cut(self, thief: int, out: Outgoing) -> None:
        found = self.pool.coord.find_cut(thief, self.pool.status)
        if found is not None:
            victim, cut = found
            running = self.pool.lanes[victim].running
            if running is not None:
                out.cuts.append((victim, running.id, cut))

    def _void_ahead(self, out: Outgoing, check_queues: bool) -> None:
        """Withdraw units sent ahead that their device may not start now (paused,
        draining, stopping), or (each tick) that left its queue (a drain's give-back)."""
        pool, coord = self.pool, self.pool.coord
        for book in coord.books:
            i = book.spec.index
            if not pool.lanes[i].ahead or book.dead:
                continue
            if coord.stopping or not book.accepts_work or not book.ready:
                out.void(i, pool.lanes.void_ahead(i))
            elif check_queues:
                out.void(i, pool.lanes.void_ahead(i, book.queue))

    def _reply(self, kind: str, i: int, value: object, just_idle: set[int], out: Outgoing) -> None:
        pool, coord = self.pool, self.pool.coord
        if isinstance(value, ActorGone):
            if i not in pool.expected_exit:
                placed = pool.placements[i]
                where = f" on node {pool.node_names.get(placed.node_id, placed.node_id[:8])}" if placed else ""
                coord.device_died(i, value.reason + where)
                pool.kill(i)
                pool.forget(i)
        elif kind == "where" and isinstance(value, Placement):
            pool.placements[i] = value
            coord.worker_started(i, value.pid)
        elif kind == "setup":
            self._setup_reply(i, value, just_idle)
        elif kind == "unit":
            self._unit_reply(i, value, just_idle)
        elif kind == "cut" and isinstance(value, CutAt):
            handed = coord.cut_answered(i, value.uid, value.at)
            if handed is not None:
                self._start(*handed, out)
        elif kind == "report" and isinstance(value, dict):
            skew = time.time() - value.pop("clock", time.time())  # the actor's node may keep other time
            for key in ("heartbeat", "progress_time"):
                if value.get(key):
                    value[key] += skew
            pool.status[i] = value
        elif kind == "stop":
            pool.kill(i)

    def _setup_reply(self, i: int, value: object, just_idle: set[int]) -> None:
        pool, coord = self.pool, self.pool.coord
        if isinstance(value, ActorReady):
            spec = coord.books[i].spec
            if spec.kind == "cuda":  # the actor names its own GPU: weight from that
                placed = pool.placements[i]
                node = placed.node_id if placed is not None else ""
                short = pool.node_names.get(node, node[:8])
                weight, known = capability_weight(value.name)
                coord.device_named(i, f"{short}/{value.name}", weight, known)
                if not known:
                    coord.info(f"{spec.label} '{value.name}': unknown model, capability weight 1.0", "warning")
            coord.device_ready(i, value.pid)
            just_idle.add(i)
            return
        if not isinstance(value, SetupFailed):
            value = SetupFailed(f"{type(value).__name__}: {value}", str(value))
        coord.device_died(i, f"setup failed: {value.error}")
        pool.sink_calls.append((pool.sink.setup_failed, (i, value)))
        pool.kill(i)
        pool.forget(i)

    def _unit_reply(self, i: int, msg: object, just_idle: set[int]) -> None:
        pool, coord = self.pool, self.pool.coord
        pool.lanes.done(i)
        if coord.books[i].in_flight is None:
            return  # its unit was requeued meanwhile (a stall restart): the reply is void
        if isinstance(msg, Done):
            flight = coord.unit_done(i, msg.sequences, msg.seconds)
            pool.sink_calls.append((pool.sink.unit_done, (i, flight, msg)))
            just_idle.add(i)
        elif isinstance(msg, Failed) and msg.environment:
            # The output disk failed, not the unit: it goes back, and the run stops.
            coord.unit_interrupted(i)
            pool.sink_calls.append((_raise_output_error, (msg.environment,)))
        elif isinstance(msg, Failed):
            flight, _ = coord.unit_failed(i, msg.error, permanent=msg.permanent)
            pool.sink_calls.append((pool.sink.unit_failed, (i, flight, msg)))
            just_idle.add(i)
        else:
            raise TypeError(f"unexpected reply from actor {i}: {msg!r}")


def _raise_output_error(message: str) -> None:
    raise OutputError(message)
