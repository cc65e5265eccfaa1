"""The driver's record of what each actor holds, one lane per device.

An actor that got only the unit in flight would sit idle for a round trip (its reply,
the next job back) after each one, which halves the throughput of units of
milliseconds. So the driver sends a few of the queue's first *short* units ahead::

    coordinator:  in flight U1 │ queue U2 U3 U4 ... (tail: what a thief steals)
    lane:         running  t1  │ ahead t2 t3       (already on the actor)

The coordinator still owns every unit: an ahead unit is, for it, queued. Its ticket
is promoted when the coordinator puts it in flight on the same device (``start``)
and voided when the unit goes elsewhere or may not start (``void_ahead``); a reply
counts only for a ticket still running or ahead (``which``), so a unit's one result
is from the device the coordinator gave it to. Used by the dispatcher thread only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ...inputs.units import Unit

AHEAD_S = 0.25  # a round trip (ms) is a visible share only of units shorter than this; longer ones wait their turn
MAX_AHEAD = 8  # enough to cover a round trip at a few ms per unit, and to batch replies; more only delays withdrawals


@dataclass
class Ticket:
    id: int  # unique in the run: names the job on the actor and its reply
    unit: Unit


@dataclass
class Started:
    """What ``Lanes.start`` decided."""

    ticket: Ticket
    send: bool  # a new job for the actor (False: promoted, the actor has it already)
    early: Any = None  # the reply that came before the promotion
    withdraw: tuple[int, int] | None = None  # (device, ticket): the unit was ahead on another device


@dataclass
class Lane:
    running: Ticket | None = None  # the coordinator's unit in flight on this device
    ahead: dict[int, Ticket] = field(default_factory=dict)  # by ticket id, in the order sent
    early: dict[int, Any] = field(default_factory=dict)  # replies for ahead tickets


def ahead_units(queue: Iterable[Unit], seconds: Callable[[Unit], float]) -> list[Unit]:
    """The units at the head of a device's queue worth sending ahead: only those short
    enough that a wasted or late start costs little, at most ``MAX_AHEAD`` and
    ``AHEAD_S`` of estimated work in all. Units of seconds or more never go ahead, so
    stealing and in-flight cuts see what they see on the local backend."""
    picked, total = [], 0.0
    for unit in itertools.islice(queue, MAX_AHEAD):
        total += seconds(unit)
        if total > AHEAD_S:
            break
        picked.append(unit)
    return picked


class Lanes:
    def __init__(self, devices: int) -> None:
        self.lanes = [Lane() for _ in range(devices)]
        self._ids = itertools.count(1)
        self._ahead_on: dict[int, tuple[int, Ticket]] = {}  # id(unit) -> (device, ticket)

    def __getitem__(self, i: int) -> Lane:
        return self.lanes[i]

    def start(self, i: int, unit: Unit) -> Started:
        """The coordinator put ``unit`` in flight on device ``i``. A unit ahead there is
        promoted (the actor has it; a reply that came early is used now); one ahead on
        another device was stolen from it: that ticket is void, to withdraw."""
        lane = self.lanes[i]
        where = self._ahead_on.pop(id(unit), None)
        if where is not None and where[0] == i:
            ticket = where[1]
            del lane.ahead[ticket.id]
            lane.running = ticket
            return Started(ticket, False, lane.early.pop(ticket.id, None))
        withdraw = None
        if where is not None:  # stolen from the device it was sent ahead to
            k, ahead = where
            self._void(k, ahead)
            withdraw = (k, ahead.id)
        lane.running = Ticket(next(self._ids), unit)
        return Started(lane.running, True, None, withdraw)

    def top_up(self, i: int, queue: Iterable[Unit], seconds: Callable[[Unit], float]) -> list[Ticket]:
        """New ahead tickets for device ``i`` (to send), from the head of its queue."""
        lane, new = self.lanes[i], []
        for unit in ahead_units(queue, seconds):
            if len(lane.ahead) >= MAX_AHEAD:
                break
            if id(unit) not in self._ahead_on:
                ticket = Ticket(next(self._ids), unit)
                lane.ahead[ticket.id] = ticket
                self._ahead_on[id(unit)] = (i, ticket)
                new.append(ticket)
        return new

    def void_ahead(self, i: int, queue: Iterable[Unit] | None = None) -> list[int]:
        """Void device ``i``'s ahead tickets: all of them (it may not start them: paused,
        draining, stopping), or with ``queue`` those whose unit is no longer in it (a
        steal, a drain's give-back). Returns the ticket ids to withdraw from the actor;
        the reply of one the actor started already is dropped (``which``)."""
        lane = self.lanes[i]
        if not lane.ahead:
            return []
        keep = {id(u) for u in queue} if queue is not None else set()
        gone = [t for t in lane.ahead.values() if id(t.unit) not in keep]
        for ticket in gone:
            self._ahead_on.pop(id(ticket.unit), None)
            self._void(i, ticket)
        return [t.id for t in gone]

    def drop(self, i: int, ticket: Ticket) -> None:
        """An ahead ticket that was never sent (its records could not be read)."""
        self.lanes[i].ahead.pop(ticket.id, None)
        self._ahead_on.pop(id(ticket.unit), None)

    def which(self, i: int, ticket_id: int) -> str:
        """What a reply for ``ticket_id`` from device ``i`` answers: ``running``,
        ``ahead``, or ``void`` (withdrawn, or settled already: dropped). Only the first
        two are used, so a unit's one result is from the device that holds it."""
        lane = self.lanes[i]
        if lane.running is not None and lane.running.id == ticket_id:
            return "running"
        return "ahead" if ticket_id in lane.ahead else "void"

    def done(self, i: int) -> None:
        """The running unit was settled with the coordinator (done, failed, requeued)."""
        self.lanes[i].running = None

    def reset(self, i: int) -> None:
        """The device's actor is gone (died, replaced): it holds nothing any more."""
        for ticket in self.lanes[i].ahead.values():
            self._ahead_on.pop(id(ticket.unit), None)
        self.lanes[i] = Lane()

    def _void(self, i: int, ticket: Ticket) -> None:
        lane = self.lanes[i]
        lane.ahead.pop(ticket.id, None)
        lane.early.pop(ticket.id, None)
