"""The Ray driver's lanes (units sent ahead to an actor), without Ray: promotion, steals,
withdrawals, and which replies count."""

from __future__ import annotations

from collections import deque

from virnucpro_bridge.backends.ray.lanes import AHEAD_S, MAX_AHEAD, Lanes, ahead_units
from virnucpro_bridge.inputs.units import Unit


def unit(k: int, residues: int = 10) -> Unit:
    return Unit(f"f{k}.fa", f"/in/f{k}.fa", f"f{k}.fa", 0, 1, 0, 10, residues, "x")


def seconds(u: Unit) -> float:
    return u.residues / 1_000.0  # 1,000 residues/s


def test_only_short_units_at_the_head_go_ahead() -> None:
    short = [unit(k, 10) for k in range(2 * MAX_AHEAD)]  # 10 ms each
    assert ahead_units(short, seconds) == short[:MAX_AHEAD]
    long = [unit(0, int(AHEAD_S * 1_000) + 1), unit(1, 10)]
    assert ahead_units(long, seconds) == []  # a unit of seconds waits its turn: stealable to the end
    mixed = [unit(0, 100), unit(1, 100), unit(2, 10_000), unit(3, 10)]
    assert ahead_units(mixed, seconds) == mixed[:2]  # the head only, never past a long unit


def test_a_unit_sent_ahead_is_promoted_with_its_early_reply() -> None:
    lanes = Lanes(2)
    queue = deque(unit(k) for k in range(3))
    first = lanes.start(0, queue.popleft())
    assert first.send and lanes[0].running is first.ticket
    ahead = lanes.top_up(0, queue, seconds)
    assert [t.unit for t in ahead] == list(queue)
    assert lanes.top_up(0, queue, seconds) == []  # nothing twice
    assert lanes.which(0, ahead[0].id) == "ahead"
    lanes[0].early[ahead[0].id] = "reply"  # it finished before the coordinator got to it
    lanes.done(0)
    second = lanes.start(0, queue.popleft())
    assert not second.send and second.ticket is ahead[0] and second.early == "reply"
    assert lanes.which(0, ahead[0].id) == "running" and lanes.which(0, first.ticket.id) == "void"


def test_a_stolen_unit_is_withdrawn_from_the_device_it_was_sent_ahead_to() -> None:
    lanes = Lanes(2)
    queue = deque(unit(k) for k in range(3))
    lanes.start(0, queue.popleft())
    ahead = lanes.top_up(0, queue, seconds)
    stolen = queue.pop()  # the thief takes the victim's tail
    started = lanes.start(1, stolen)
    assert started.send and started.withdraw == (0, ahead[-1].id)
    assert lanes.which(0, ahead[-1].id) == "void"  # the victim's reply, if it ran anyway, is dropped
    assert lanes.which(1, started.ticket.id) == "running"
    assert [t.unit for t in lanes[0].ahead.values()] == [queue[0]]


def test_ahead_units_are_voided_when_they_leave_the_queue_or_the_device_stops_taking_work() -> None:
    lanes = Lanes(1)
    queue = deque(unit(k) for k in range(4))
    lanes.start(0, queue.popleft())
    ahead = lanes.top_up(0, queue, seconds)
    assert lanes.void_ahead(0, queue) == []  # all still queued
    given_back = queue.pop()  # e.g. a drain's give-back moved it
    assert lanes.void_ahead(0, queue) == [ahead[-1].id] and given_back is ahead[-1].unit
    assert sorted(lanes.void_ahead(0)) == sorted(t.id for t in ahead[:-1])  # paused: all of them
    assert lanes[0].ahead == {}
    again = lanes.top_up(0, queue, seconds)  # resumed: sent again, under new tickets
    assert [t.unit for t in again] == list(queue) and {t.id for t in again}.isdisjoint(t.id for t in ahead)


def test_a_lost_actor_holds_nothing() -> None:
    lanes = Lanes(1)
    queue = deque(unit(k) for k in range(3))
    running = lanes.start(0, queue.popleft()).ticket
    ahead = lanes.top_up(0, queue, seconds)
    lanes.reset(0)
    assert lanes.which(0, running.id) == "void" and lanes.which(0, ahead[0].id) == "void"
    assert len(lanes.top_up(0, queue, seconds)) == 2  # a fresh actor gets them anew


def test_an_ahead_ticket_never_sent_is_dropped() -> None:
    lanes = Lanes(1)
    queue = deque(unit(k) for k in range(2))
    lanes.start(0, queue.popleft())
    (ticket,) = lanes.top_up(0, queue, seconds)
    lanes.drop(0, ticket)  # its records could not be read
    assert lanes.which(0, ticket.id) == "void"
    assert lanes.start(0, queue.popleft()).send  # its turn: sent as the unit in flight, and fails there
