"""Units sent ahead to a local worker: held by it until run, withdrawn or its death.

The coordinator's half runs on the test's thread with a hand-driven clock;
the worker's half (``Inbox``) reads a real pipe.
"""

from __future__ import annotations

import multiprocessing as mp

import pytest

from virnucpro_bridge.backends.local.worker import Inbox
from virnucpro_bridge.coordinator.messages import STOP, Cut, CutAt, Withdraw, Withdrawn, WorkBatch, WorkItem

from .test_coordinator import load, make, queue_of, unit

TINY = 10.0  # residues: a unit of well under a millisecond at the nominal rate


def busy_with_ahead(n: int = 4, **kw):
    """Device 0 runs u0 and holds u1..un sent ahead, u(n+1)..u(2n) queued; device 1 is idle."""
    coord, clock = make((1.0, 1.0), units=(), **kw)
    load(coord, 0, *[f"u{k}" for k in range(2 * n + 1)], residues=TINY)
    flight = coord.next_unit(0, allow_steal=False)
    sent = coord.send_ahead(0, budget_s=1.0, most=n)
    assert flight.unit.uid == "u0" and [u.uid for u in sent] == [f"u{k}" for k in range(1, n + 1)]
    return coord, clock


def test_send_ahead_takes_the_queue_head_within_the_count_and_the_time_budget() -> None:
    coord, _ = make((1.0,), units=(), unit_overhead_s=0.01)
    load(coord, 0, *"abcdefghij", residues=TINY)
    assert coord.send_ahead(0, 1.0, 4) == []  # nothing in flight: its next unit goes as the unit in flight
    coord.next_unit(0)
    assert [u.uid for u in coord.send_ahead(0, 0.025, 16)] == ["b", "c"]  # 10 ms fixed cost each
    assert coord.books[0].sent == 2
    assert coord.send_ahead(0, 0.025, 16) == []  # it holds more than half the budget: later, in a batch
    coord.unit_done(0, 10, 0.001, "a")
    assert coord.next_unit(0).unit.uid == "b"
    assert [u.uid for u in coord.send_ahead(0, 0.025, 16)] == ["d"]  # c and d: 20 ms
    assert coord.send_ahead(0, 1.0, 3) == []  # it holds 2 of at most 3


def test_nothing_is_sent_ahead_from_a_short_queue() -> None:
    coord, _ = make((1.0,), units=())
    load(coord, 0, "a", "b", "c", "d", residues=TINY)
    coord.next_unit(0)
    assert [u.uid for u in coord.send_ahead(0, 1.0, 16)] == ["b"]  # half of b c d
    coord.unit_done(0, 10, 0.001, "a")
    assert coord.next_unit(0).unit.uid == "b"
    assert [u.uid for u in coord.send_ahead(0, 1.0, 16)] == ["c"]  # d stays for a thief
    coord.unit_done(0, 10, 0.001, "b")
    assert coord.next_unit(0).unit.uid == "c"
    assert coord.send_ahead(0, 1.0, 16) == []  # the last unit is never held


def test_a_long_unit_is_never_sent_ahead() -> None:
    coord, _ = make((1.0,), units=())
    load(coord, 0, "a", "long", "c", "d", "e", residues=TINY)
    coord.books[0].queue[1] = unit("long", 1e9)
    coord.next_unit(0)
    assert coord.send_ahead(0, 0.05, 16) == []  # the head is long: nothing after it goes either


def test_the_next_unit_is_the_first_sent_ahead_and_is_not_sent_again() -> None:
    coord, _ = busy_with_ahead(2)
    coord.unit_done(0, 10, 0.001, "u0")
    flight = coord.next_unit(0)
    assert flight.unit.uid == "u1" and flight.ahead and flight.attempt == 1
    assert coord.books[0].sent == 1


def test_a_steal_never_takes_a_unit_sent_ahead() -> None:
    coord, _ = busy_with_ahead(4)  # queue: u1..u4 sent, u5..u8 not
    stolen = []
    while (flight := coord.next_unit(1)) is not None:
        stolen.append(flight.unit.uid)
        coord.unit_done(1, 10, 0.001, flight.unit.uid)
    assert stolen == ["u8", "u7", "u6", "u5"]  # then only units sent ahead are left on device 0
    assert queue_of(coord, 0) == ["u1", "u2", "u3", "u4"]


def test_a_unit_queued_at_the_front_goes_after_those_sent_ahead() -> None:
    coord, _ = busy_with_ahead(2)
    coord.books[0].push(unit("retry", TINY), front=True)
    assert queue_of(coord, 0)[:4] == ["u1", "u2", "retry", "u3"]


def test_a_paused_device_is_withdrawn_from_and_a_unit_it_started_is_put_in_flight() -> None:
    coord, _ = busy_with_ahead(3)
    coord.pause(0)
    coord.unit_done(0, 10, 0.001, "u0")
    assert coord.next_unit(0) is None  # paused: nothing new is put in flight
    assert coord.needs_withdraw(0) and not coord.needs_withdraw(0)  # once
    assert coord.work_left()
    # It had started u1 before it read the Withdraw: that answer comes first.
    flight = coord.unit_done(0, 10, 0.001, "u1")
    assert flight.unit.uid == "u1" and coord.books[0].units_done == 2
    coord.withdrawn(0, 2)  # u2, u3 dropped
    book = coord.books[0]
    assert (book.sent, book.withdrawing, book.in_flight) == (0, False, None)
    assert queue_of(coord, 0)[:2] == ["u2", "u3"]  # they wait for the resume, stealable


def test_a_unit_running_when_the_withdraw_arrived_is_in_flight_after_the_answer() -> None:
    coord, _ = busy_with_ahead(3)
    coord.pause(0)
    coord.unit_done(0, 10, 0.001, "u0")
    assert coord.needs_withdraw(0)
    coord.withdrawn(0, 2)  # it was running u1 (not yet answered) and dropped u2, u3
    assert coord.books[0].in_flight.unit.uid == "u1"  # watched for stalls, answered later
    assert coord.unit_done(0, 10, 0.001, "u1").unit.uid == "u1"


def test_an_answer_for_a_unit_it_does_not_hold_is_an_error() -> None:
    coord, _ = busy_with_ahead(2)
    coord.unit_done(0, 10, 0.001, "u0")
    with pytest.raises(RuntimeError, match="not given"):
        coord.unit_done(0, 10, 0.001, "u2")  # u1 comes first


def test_a_drained_device_gives_back_what_it_dropped_and_stops_only_then() -> None:
    coord, _ = busy_with_ahead(3)
    coord.drain(0)
    assert coord.take_pending_drains() == []  # u0 in flight
    assert queue_of(coord, 1) == ["u4", "u5", "u6"]  # what was not sent went at once
    coord.unit_done(0, 10, 0.001, "u0")
    assert coord.needs_withdraw(0)
    assert coord.take_pending_drains() == []  # it still holds u1..u3
    coord.withdrawn(0, 3)
    assert sorted(queue_of(coord, 1)) == ["u1", "u2", "u3", "u4", "u5", "u6"]
    assert coord.take_pending_drains() == [0]


def test_a_stop_waits_for_the_withdrawal() -> None:
    coord, _ = busy_with_ahead(2)
    coord.stop()
    coord.unit_done(0, 10, 0.001, "u0")
    assert coord.work_left()  # the worker may still start u1
    assert coord.needs_withdraw(0)
    coord.withdrawn(0, 2)
    assert not coord.work_left()


def test_a_dead_worker_frees_what_it_held() -> None:
    coord, _ = busy_with_ahead(3)
    coord.worker_gone(0)
    coord.device_died(0, "killed by SIGKILL")
    assert coord.books[0].queue == type(coord.books[0].queue)()
    assert sorted(queue_of(coord, 1)) == ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]


def test_a_retired_device_keeps_what_it_was_sent_until_its_worker_is_gone() -> None:
    coord, _ = busy_with_ahead(2)
    coord.unit_done(0, 10, 0.001, "u0")
    coord.health.retire(0, "failing")  # its worker is told to stop, and may be running u1
    assert queue_of(coord, 0) == ["u1", "u2"]
    assert coord.unit_done(0, 10, 0.001, "u1").unit.uid == "u1"  # it did: counted once
    coord.worker_gone(0)
    assert queue_of(coord, 0) == [] and "u2" in queue_of(coord, 1)


# -- the worker's half ------------------------------------------------------------


def item(name: str) -> WorkItem:
    return WorkItem(unit(name, TINY), f"/out/{name}.json", 1)


@pytest.fixture
def pipe():
    here, there = mp.Pipe()
    yield here, Inbox(there)
    here.close()
    there.close()


def test_the_worker_runs_a_batch_in_order(pipe) -> None:
    here, inbox = pipe
    here.send(item("a"))
    here.send(WorkBatch((item("b"), item("c"))))
    assert [inbox.next().unit.uid for _ in range(3)] == ["a", "b", "c"]


def test_a_withdraw_drops_what_has_not_started_and_says_how_many(pipe) -> None:
    here, inbox = pipe
    here.send(WorkBatch((item("a"), item("b"), item("c"))))
    assert inbox.next().unit.uid == "a"
    here.send(Withdraw())
    here.send(item("d"))  # the next unit in flight, after the answer
    assert inbox.next().unit.uid == "d"  # read before b: b and c were dropped
    assert here.recv() == Withdrawn(2)


def test_stop_drops_what_was_sent_ahead(pipe) -> None:
    here, inbox = pipe
    here.send(WorkBatch((item("a"), item("b"))))
    assert inbox.next().unit.uid == "a"
    here.send(STOP)
    assert inbox.next() is None


def test_a_cut_for_a_unit_already_over_is_answered_too_late(pipe) -> None:
    here, inbox = pipe
    here.send(Cut("a", (1, 0), (2, 0)))
    here.send(item("b"))
    assert inbox.next().unit.uid == "b"
    assert here.recv() == CutAt("a", None)


def test_the_answer_for_a_unit_cut_in_flight_names_the_unit_the_worker_was_given() -> None:
    from virnucpro_bridge.inputs.units import cut_unit

    coord, _ = make((1.0,), units=())
    coord.books[0].push(unit("big", 1e6, sequences=10))
    flight = coord.next_unit(0)
    flight.unit, flight.cut = cut_unit(flight.unit, (5, 0), None)[0], True  # as cut_answered does
    assert coord.unit_done(0, 5, 0.1, "big") is flight
