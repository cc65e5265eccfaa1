"""Coordinator behaviour without processes: queues, steals, controls, faults.

Everything runs on the test's thread with a hand-driven clock; the worker
reports are a plain dict standing in for the Manager dict.
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from virnucpro_bridge.control import CommandError, RunCommands, SnapshotSource
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.coordinator.coordinator import NOMINAL_RATE, Coordinator
from virnucpro_bridge.hardware.devices import DeviceSpec
from virnucpro_bridge.inputs.units import Unit
from virnucpro_bridge.options import RunOptions


class Clock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def unit(name: str, residues: float, sequences: int = 10) -> Unit:
    return Unit(name, f"/in/{name}", name, 0, 1, 0, sequences, int(residues), "sha-" + name)


def sims(*speeds: float) -> list[DeviceSpec]:
    return [DeviceSpec(i, "sim", f"sim{i}", s, speed=s) for i, s in enumerate(speeds)]


def options(kw: dict) -> RunOptions:
    """The run options among ``kw`` (taken out of it); the rest are the Coordinator's own."""
    return RunOptions(argv=(), **{f.name: kw.pop(f.name) for f in fields(RunOptions) if f.name in kw})


def make(speeds=(1.0, 1.0), units=(), *, ready=True, assign=True, **kw) -> tuple[Coordinator, Clock]:
    clock = kw.pop("clock", Clock())
    coord = Coordinator(sims(*speeds), list(units), options(kw), clock=clock, **kw)
    if assign:
        coord.assign_initial()
    if ready:
        for b in coord.books:
            coord.device_ready(b.spec.index, pid=100 + b.spec.index)
    return coord, clock


def queue_of(coord: Coordinator, index: int) -> list[str]:
    return [u.uid for u in coord.books[index].queue]


def load(coord: Coordinator, index: int, *names: str, residues: float = NOMINAL_RATE) -> None:
    """Put units straight onto one device's queue (bypassing assignment)."""
    book = coord.books[index]
    for n in names:
        book.push(unit(n, residues))


def state(coord: Coordinator, index: int) -> str:
    return coord.snapshot().devices[index].state


# -- interfaces and initial assignment -------------------------------------------

def test_does_what_the_ui_interfaces_promise() -> None:
    """control.py's SnapshotSource and RunCommands, used through those names only."""
    coord, _ = make((1.0, 1.0), [unit(n, 100) for n in "abcdef"])
    source: SnapshotSource = coord
    commands: RunCommands = coord
    assert [d.index for d in source.snapshot().devices] == [0, 1]
    assert source.device_detail(1).device.index == 1
    with pytest.raises(IndexError):
        source.device_detail(2)
    first = coord.next_unit(0)
    assert first is not None
    assert "paused" in commands.pause(0) and source.snapshot().devices[0].paused
    coord.unit_done(0, 10, 1.0)  # the current unit finishes ...
    assert coord.next_unit(0) is None  # ... and nothing more is taken until resumed
    assert isinstance(commands.resume(0), str) and not source.snapshot().devices[0].paused
    assert coord.next_unit(0) is not None
    assert isinstance(commands.set_stealing(False), str) and not source.snapshot().stealing
    coord.device_died(1, "gone")
    with pytest.raises(CommandError):
        commands.drain(1)
    assert isinstance(commands.stop(), str) and source.snapshot().stopping
    coord.unit_done(0, 10, 1.0)
    assert coord.next_unit(0) is None  # no more work is handed out


def test_initial_assignment_places_every_unit_once_by_weight() -> None:
    units = [unit(f"u{i}", 1000 * (i + 1)) for i in range(12)]
    coord, _ = make((3.0, 1.0), units, ready=False)
    placed = queue_of(coord, 0) + queue_of(coord, 1)
    assert sorted(placed) == sorted(u.uid for u in units)
    cost0 = coord.books[0].queued_cost
    cost1 = coord.books[1].queued_cost
    assert cost0 + cost1 == sum(u.cost for u in units)
    assert cost0 > 2 * cost1  # the 3x device carries most of the work
    # largest first: each queue is in descending cost order
    for b in coord.books:
        costs = [u.cost for u in b.queue]
        assert costs == sorted(costs, reverse=True)


def test_no_weighted_ignores_device_speed() -> None:
    units = [unit(f"u{i}", 1000) for i in range(6)]
    coord, _ = make((3.0, 1.0), units, ready=False, weighted=False)
    assert [len(b.queue) for b in coord.books] == [3, 3]
    assert [b.weight for b in coord.books] == [1.0, 1.0]


# -- next_unit and the steal rule ---------------------------------------------------

def test_next_unit_waits_for_ready_and_takes_the_head() -> None:
    coord, clock = make((1.0,), [unit("a", 300), unit("b", 200)], ready=False)
    assert coord.next_unit(0) is None  # still starting
    assert state(coord, 0) == S.STARTING
    coord.device_ready(0, pid=42)
    flight = coord.next_unit(0)
    assert flight is not None and flight.unit.uid == "a" and flight.attempt == 1 and not flight.stolen
    assert coord.counts.first_dispatch == clock.t
    assert coord.next_unit(0) is None  # one unit in flight at a time
    assert state(coord, 0) == S.RUNNING
    assert coord.snapshot().devices[0].pid == 42


def test_idle_device_steals_from_the_tail_of_the_busiest_queue() -> None:
    coord, clock = make((4.0, 1.0, 1.0), assign=False)
    load(coord, 1, "v1-head", "v1-mid", "v1-tail")
    load(coord, 2, "v2-head", "v2-tail")
    assert coord.next_unit(1).unit.uid == "v1-head"
    assert coord.next_unit(2).unit.uid == "v2-head"
    clock.advance(0.1)
    flight = coord.next_unit(0)
    assert flight is not None and flight.stolen
    assert flight.unit.uid == "v1-tail"  # the tail of the queue with the most remaining time
    assert queue_of(coord, 1) == ["v1-mid"]
    assert coord.books[0].stolen_in == 1 and coord.books[1].stolen_out == 1
    (event,) = coord.snapshot().steals
    assert (event.thief, event.victim, event.unit, event.sequences) == (0, 1, "v1-tail", 10)
    assert event.time == clock.t
    steal_events = [e for e in coord.snapshot().events if e.kind == S.EV_STEAL]
    assert steal_events[0].steal == event and "SIM0 stole v1-tail" in steal_events[0].message
    assert coord.snapshot().steals_total == 1


def test_no_steal_when_the_thief_would_not_finish_first() -> None:
    coord, _ = make((0.1, 1.0), assign=False)
    load(coord, 1, "a", "b")
    coord.next_unit(1)  # b starts in ~1 s on the victim; the thief needs ~10 s
    assert coord.next_unit(0) is None
    assert coord.log.steals_total == 0


def test_no_steal_when_disabled_or_not_allowed() -> None:
    coord, _ = make((4.0, 1.0), assign=False, steal=False)
    load(coord, 1, "a", "b", "c")
    coord.next_unit(1)
    assert coord.next_unit(0) is None
    coord.set_stealing(True)
    assert coord.next_unit(0, allow_steal=False) is None  # waits for the steal interval
    assert coord.next_unit(0).unit.uid == "c"
    assert coord.snapshot().stealing


def test_stealing_from_a_paused_victim() -> None:
    coord, _ = make((1.0, 1.0), assign=False)
    load(coord, 1, "a", "b", "c")
    coord.pause(1)
    assert coord.next_unit(1) is None  # paused: takes nothing
    assert coord.next_unit(0).unit.uid == "c"


def test_paused_victims_last_queued_unit_can_be_stolen() -> None:
    # A paused device starts nothing, so even its only queued unit is free to take.
    coord, _ = make((1.0, 1.0), assign=False)
    load(coord, 1, "only")
    coord.pause(1)
    flight = coord.next_unit(0)
    assert flight is not None and flight.unit.uid == "only" and flight.stolen


def test_idle_victims_only_unit_is_not_stolen() -> None:
    # The victim would start it right now: stealing gains nothing.
    coord, _ = make((10.0, 1.0), assign=False)
    load(coord, 1, "only")
    assert coord.next_unit(0) is None


# -- pause, resume, drain ----------------------------------------------------------

def test_pause_finishes_the_current_unit_then_takes_nothing() -> None:
    coord, clock = make((1.0,), [unit("a", 100), unit("b", 100)])
    coord.next_unit(0)
    message = coord.pause(0)
    assert "after its current unit" in message
    assert coord.snapshot().devices[0].paused
    assert state(coord, 0) == S.RUNNING  # still finishing "a"
    clock.advance(1)
    coord.unit_done(0, 10, 1.0)
    assert coord.next_unit(0) is None
    assert state(coord, 0) == S.PAUSED
    assert coord.pause(0).endswith("already paused")
    coord.resume(0)
    assert coord.next_unit(0).unit.uid == "b"
    assert coord.resume(0).endswith("not paused")
    kinds = [e.kind for e in coord.snapshot().events]
    assert kinds.count(S.EV_CONTROL) == 2


def test_commands_wake_the_dispatcher() -> None:
    woken = []
    coord, _ = make((1.0, 1.0), wake=lambda: woken.append(1))
    coord.pause(0)
    coord.resume(0)
    coord.drain(1)
    coord.set_stealing(False)
    coord.stop()
    assert len(woken) == 5


def test_bad_commands_raise_command_error() -> None:
    coord, _ = make((1.0, 1.0))
    with pytest.raises(CommandError):
        coord.pause(5)
    with pytest.raises(CommandError):
        coord.drain(-1)
    coord.device_died(1, "killed by SIGKILL")
    with pytest.raises(CommandError):
        coord.pause(1)
    with pytest.raises(CommandError):
        coord.drain(1)
    with pytest.raises(IndexError):
        coord.device_detail(9)


def test_drain_gives_the_queue_back_after_the_current_unit() -> None:
    units = [unit(f"u{i}", 1000) for i in range(6)]
    coord, clock = make((1.0, 1.0), units)
    first = coord.next_unit(0)
    coord.next_unit(1)
    coord.drain(0)
    assert state(coord, 0) == S.DRAINING
    assert coord.next_unit(0) is None
    assert coord.take_pending_drains() == []  # unit in flight: not stopped yet
    assert queue_of(coord, 0) == []  # ... but its queue went to device 1
    assert len(queue_of(coord, 1)) == 4
    clock.advance(1)
    assert coord.unit_done(0, 10, 1.0) is first
    assert coord.take_pending_drains() == [0]
    coord.controls.mark_drained(0)
    assert state(coord, 0) == S.DRAINED
    assert coord.take_pending_drains() == []
    with pytest.raises(CommandError):
        coord.drain(0)
    assert coord.next_unit(0) is None
    # the drained device's work is all on device 1; the run can still finish
    assert coord.can_progress()


def test_drained_device_is_not_a_steal_victim_and_takes_no_redistribution() -> None:
    coord, _ = make((1.0, 1.0, 1.0), assign=False)
    coord.drain(0)
    coord.take_pending_drains()
    coord.controls.mark_drained(0)
    load(coord, 1, "a", "b")
    coord.next_unit(1)
    coord.device_died(1, "gone")
    assert queue_of(coord, 0) == []
    assert sorted(queue_of(coord, 2)) == ["a", "b"]


def test_stop_hands_out_nothing_more() -> None:
    coord, _ = make((1.0, 1.0), [unit(f"u{i}", 100) for i in range(4)])
    coord.next_unit(0)
    coord.stop()
    assert coord.stopping and not coord.stop_now
    assert coord.next_unit(1) is None
    assert coord.work_left()  # the unit in flight
    coord.unit_done(0, 10, 0.1)
    assert not coord.work_left()  # queued units are abandoned
    coord.stop(now=True)
    assert coord.stop_now
    assert state(coord, 1) == S.IDLE  # units remain undone: not "done" ...
    assert coord.settle() == 130  # a stop left units undone: interrupted
    coord.close_out(130)
    assert state(coord, 1) == S.DONE  # ... until the run is over


# -- retries, failures, deaths ----------------------------------------------------

def test_transient_failure_is_retried_elsewhere_then_fails_after_retries() -> None:
    coord, clock = make((1.0, 1.0), assign=False, retries=1)
    load(coord, 0, "bad")
    f1 = coord.next_unit(0)
    assert f1.attempt == 1
    clock.advance(1)
    flight, retried = coord.unit_failed(0, "ValueError: boom")
    assert flight is f1 and retried
    assert queue_of(coord, 1) == ["bad"]  # retried on the other device
    f2 = coord.next_unit(1)
    assert f2.unit.uid == "bad" and f2.attempt == 2
    _, retried = coord.unit_failed(1, "ValueError: boom again")
    assert not retried
    snap = coord.snapshot()
    assert snap.units_failed == 1
    assert snap.devices[1].units_failed == 1 and snap.devices[0].units_failed == 0
    assert any("bad" in e and "boom again" in e for e in snap.errors)
    kinds = [e.kind for e in snap.events]
    assert kinds.count(S.EV_RETRY) == 1 and kinds.count(S.EV_FAILURE) == 1
    assert coord.settle() == 1
    summary = coord.close_out(1)
    assert summary["files_failed"] == 1
    assert summary["failures"] == [{"unit": "bad", "error": "ValueError: boom again"}]
    assert coord.books[0].busy_s == pytest.approx(1.0)


def test_retry_goes_back_to_the_same_device_when_it_is_the_only_one() -> None:
    coord, _ = make((1.0,), [unit("a", 100)], retries=2)
    coord.next_unit(0)
    _, retried = coord.unit_failed(0, "OSError: flaky disk")
    assert retried
    assert coord.next_unit(0).attempt == 2


def test_permanent_failure_is_not_retried() -> None:
    coord, _ = make((1.0, 1.0), [unit("a", 100)], retries=5)
    index = 0 if queue_of(coord, 0) else 1
    coord.next_unit(index)
    _, retried = coord.unit_failed(index, "bad input: no ORFs", permanent=True)
    assert not retried
    assert coord.recovery.failed == {"a": "bad input: no ORFs"}
    assert coord.queues.queued == 0 and coord.in_flight == 0


def test_device_died_requeues_its_unit_and_queue() -> None:
    units = [unit(f"u{i}", 1000) for i in range(6)]
    coord, clock = make((1.0, 1.0, 1.0), units)
    lost = coord.next_unit(0)
    coord.next_unit(1)
    coord.next_unit(2)
    clock.advance(2)
    assert coord.device_died(0, "killed by SIGKILL") is lost
    assert coord.device_died(0, "again") is None  # reported once
    assert coord.books[0].queue == deque_empty()
    others = queue_of(coord, 1) + queue_of(coord, 2)
    assert lost.unit.uid in others
    assert len(others) == 4  # 3 queued units of all devices' + the lost one
    snap = coord.snapshot()
    assert snap.devices[0].state == S.DEAD
    assert snap.devices[0].utilization is None
    assert any(e.kind == S.EV_DEATH and "SIGKILL" in e.message for e in snap.events)
    assert coord.books[0].busy_s == pytest.approx(2.0)
    # the requeued unit's next try is attempt 2
    for i in (1, 2):
        coord.unit_done(i, 10, 1.0)
    attempts = {}
    for _ in range(4):
        for i in (1, 2):
            f = coord.next_unit(i)
            if f is not None:
                attempts[f.unit.uid] = f.attempt
                coord.unit_done(i, 10, 1.0)
    assert attempts[lost.unit.uid] == 2
    assert coord.counts.units_done == 6 - 1 + 1  # every unit once (the lost one redone)


def test_worker_death_requeues_even_without_retries_but_a_unit_killing_two_workers_fails() -> None:
    coord, _ = make((1.0, 1.0, 1.0), [unit("poison", 3000), unit("b", 100)], retries=0)
    first = coord.next_unit(0)
    assert first.unit.uid == "poison"
    coord.device_died(0, "killed by SIGSEGV")  # not the unit's fault (yet): redone despite --retries 0
    assert "poison" not in coord.recovery.failed
    holder = next(b for b in coord.books if any(u.uid == "poison" for u in b.queue))
    again = coord.next_unit(holder.spec.index)
    while again is not None and again.unit.uid != "poison":
        coord.unit_done(holder.spec.index, 10, 0.1)
        again = coord.next_unit(holder.spec.index)
    assert again is not None and again.attempt == 2
    coord.device_died(holder.spec.index, "killed by SIGSEGV")
    assert "poison" in coord.recovery.failed  # two workers down: the third is spared
    assert sum(b.alive for b in coord.books) == 1


def deque_empty():
    from collections import deque

    return deque()


def test_last_device_dying_leaves_no_progress_possible() -> None:
    coord, _ = make((1.0,), [unit("a", 100), unit("b", 100)])
    coord.next_unit(0)
    coord.device_died(0, "segfault")
    assert not coord.can_progress()
    assert coord.work_left()


# -- stalls ---------------------------------------------------------------------------

def test_stall_detection_with_an_injected_clock() -> None:
    status: dict = {}
    coord, clock = make((1.0, 1.0), [unit("a", 100), unit("b", 100)], status=status, stall_timeout=30)
    coord.next_unit(0)
    clock.advance(29)
    assert coord.monitoring.detect_stalled_workers() == []
    clock.advance(2)
    assert coord.monitoring.detect_stalled_workers() == [0]
    assert coord.monitoring.detect_stalled_workers() == []  # flagged once
    snap = coord.snapshot()
    assert snap.devices[0].state == S.STALLED and snap.devices[0].stalled
    assert snap.devices[1].state != S.STALLED  # device 1 holds no unit
    assert any(e.kind == S.EV_STALL and "SIM0" in e.message for e in snap.events)
    # the worker reports progress: no longer stalled
    status[0] = {"unit": "a", "progress": 3, "progress_time": clock.t}
    assert coord.monitoring.detect_stalled_workers() == []
    assert not coord.books[0].stalled
    # an explicit threshold overrides --stall-timeout
    clock.advance(5)
    assert coord.monitoring.detect_stalled_workers(stall_threshold=5) == [0]


def test_stalled_victims_queue_can_be_stolen() -> None:
    coord, clock = make((1.0, 1.0), assign=False, stall_timeout=10)
    load(coord, 1, "a", "b", residues=100)
    coord.next_unit(1)
    clock.advance(11)
    assert coord.monitoring.detect_stalled_workers() == [1]
    flight = coord.next_unit(0)
    assert flight is not None and flight.unit.uid == "b"


# -- completions and metrics --------------------------------------------------------

def test_completions_show_in_the_snapshot_and_the_detail() -> None:
    coord, clock = make((1.0, 4.0), assign=False)
    load(coord, 0, "x.fa", "y.fa")
    assert coord.next_unit(0).unit.uid == "x.fa"
    stolen = coord.next_unit(1)  # 4x faster: it finishes y.fa before SIM0 would start it
    assert stolen.unit.uid == "y.fa" and stolen.stolen
    clock.advance(10)
    coord.unit_done(0, 100, 2.0)
    coord.unit_done(1, 50, 4.0)
    snap = coord.snapshot()
    devices = snap.devices
    assert [d.index for d in devices] == [0, 1]
    assert devices[0].units_done == 1 and devices[0].sequences_done == 100
    assert devices[0].busy_s == 2.0
    assert devices[0].throughput == pytest.approx(50.0)
    assert devices[1].throughput == pytest.approx(12.5)
    assert (devices[1].stolen_in, devices[0].stolen_out) == (1, 1)
    (record,) = coord.device_detail(1).units
    assert record.unit == "y.fa" and record.sequences == 50 and record.stolen and record.ok
    (record,) = coord.device_detail(0).units
    assert record.unit == "x.fa" and not record.stolen
    assert snap.units_done == 2 and snap.sequences_done == 150
    assert coord.counts.last_completion == clock.t
    assert [(e.thief, e.victim, e.unit) for e in snap.steals] == [(1, 0, "y.fa")]


def test_unit_done_without_a_unit_is_an_error() -> None:
    coord, _ = make((1.0,))
    with pytest.raises(RuntimeError):
        coord.unit_done(0, 1, 1.0)
    with pytest.raises(RuntimeError):
        coord.unit_failed(0, "x")


def test_recent_steal_events_are_bounded() -> None:
    coord, _ = make((1.0, 1.0), assign=False)
    load(coord, 1, *[f"u{i}" for i in range(60)], residues=10)
    coord.next_unit(1)
    for _ in range(59):
        flight = coord.next_unit(0)
        assert flight is not None
        coord.unit_done(0, 1, 0.0)
    steals = coord.snapshot().steals
    assert len(steals) == 50 and coord.log.steals_total == 59
    seqs = [s.seq for s in steals]
    assert seqs == sorted(seqs)


# -- snapshot, states, summary -------------------------------------------------------

def test_snapshot_is_plain_frozen_data() -> None:
    import dataclasses

    coord, _ = make((1.0, 1.0), [unit("a", 100)])
    snap = coord.snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.units_done = 3  # type: ignore[misc]
    assert isinstance(snap.devices, tuple) and isinstance(snap.events, tuple)
    assert snap.units_total == 1 and snap.sequences_total == 10
    assert snap.started_at is None and snap.eta is None


def test_device_states_through_a_run() -> None:
    coord, clock = make((1.0, 1.0), [unit("a", 100), unit("b", 100), unit("c", 50)], ready=False)
    assert [d.state for d in coord.snapshot().devices] == [S.STARTING, S.STARTING]
    coord.device_ready(0)
    coord.device_ready(1)
    assert [d.state for d in coord.snapshot().devices] == [S.IDLE, S.IDLE]
    coord.next_unit(0)
    assert state(coord, 0) == S.RUNNING
    clock.advance(1)
    coord.unit_done(0, 10, 1.0)
    coord.next_unit(1)
    coord.unit_done(1, 10, 1.0)
    while coord.next_unit(0) is not None:
        coord.unit_done(0, 10, 1.0)
    assert [d.state for d in coord.snapshot().devices] == [S.DONE, S.DONE]


def test_summary_fields() -> None:
    units = [unit(f"u{i}", 1000) for i in range(4)]
    coord, clock = make((2.0, 1.0), units, skipped=3)
    for i in (0, 1):
        coord.next_unit(i)
    clock.advance(2)
    coord.unit_done(0, 10, 2.0)
    clock.advance(1)
    coord.unit_done(1, 10, 3.0)
    while True:
        f = coord.next_unit(0)
        if f is None:
            break
        clock.advance(1)
        coord.unit_done(0, 10, 1.0)
    assert coord.settle() == 0
    summary = coord.close_out(0)
    assert summary["makespan_s"] == pytest.approx(clock.t - 1000.0)
    assert summary["files_total"] == 7
    assert summary["files_done"] == 7
    assert summary["files_skipped"] == 3
    assert summary["files_failed"] == 0 and summary["files_not_run"] == 0
    assert summary["sequences"] == 40
    assert summary["steals"] == coord.log.steals_total
    assert summary["exit_code"] == 0
    devs = summary["devices"]
    assert [d["index"] for d in devs] == [0, 1]
    assert set(devs[0]) >= {"index", "name", "files_done", "sequences", "busy_s", "stolen_in",
                            "stolen_out", "final_state"}
    assert devs[0]["files_done"] + devs[1]["files_done"] == 4
    assert all(d["final_state"] == S.DONE for d in devs)
    snap = coord.snapshot()
    assert snap.finished and snap.exit_code == 0 and snap.summary == summary and snap.eta == 0.0


def test_run_history_samples() -> None:
    status = {0: {"utilization": 55.0}}
    coord, clock = make((1.0,), status=status)
    coord.monitoring.sample_history()
    clock.advance(1)
    coord.monitoring.sample_history()
    detail = coord.device_detail(0)
    assert [v for _, v in detail.utilization_history] == [55.0, 55.0]
    assert len(detail.throughput_history) == 2


def test_queue_left_on_a_drained_device_goes_out_after_a_resume() -> None:
    # Drain while the only other device is paused: nobody can take the queue yet.
    coord, _ = make((1.0, 1.0), assign=False)
    load(coord, 0, "a", "b")
    coord.pause(1)
    coord.drain(0)
    assert coord.take_pending_drains() == [0]
    coord.controls.mark_drained(0)
    assert queue_of(coord, 0) == ["a", "b"]  # held until someone can take it
    coord.resume(1)
    coord.take_pending_drains()  # the dispatcher's next tick
    assert queue_of(coord, 0) == [] and sorted(queue_of(coord, 1)) == ["a", "b"]
    assert coord.next_unit(1) is not None


def test_queue_of_a_device_dying_while_the_others_are_paused_is_not_lost() -> None:
    coord, _ = make((1.0, 1.0), assign=False)
    load(coord, 0, "a", "b")
    coord.next_unit(0)
    coord.pause(1)
    coord.device_died(0, "killed by SIGKILL")
    coord.resume(1)
    coord.take_pending_drains()
    assert sorted(queue_of(coord, 1)) == ["a", "b"]


def test_finishing_the_unit_clears_the_stall_at_once() -> None:
    # The run can end right after the last unit: the final state must not say "stalled".
    coord, clock = make((1.0,), [unit("a", 100)], stall_timeout=1)
    coord.next_unit(0)
    clock.advance(5)
    assert coord.monitoring.detect_stalled_workers() == [0]
    coord.unit_done(0, 10, 5.0)
    assert state(coord, 0) == S.DONE
    assert coord.close_out(coord.settle())["devices"][0]["final_state"] == S.DONE


def test_abort_stops_hands_out_nothing_and_settles_as_3() -> None:
    coord, _ = make((1.0, 1.0), [unit(f"u{i}", 100) for i in range(4)])
    coord.next_unit(0)
    coord.abort("no space left on device writing x")
    coord.abort("a second reason is not kept")
    assert coord.stopping and coord.next_unit(1) is None
    snap = coord.snapshot()
    assert snap.error == "no space left on device writing x"
    assert [e.message for e in snap.events if e.kind == S.EV_ERROR] == [
        "run aborted: no space left on device writing x"
    ]
    assert coord.settle() == 3
    summary = coord.close_out(3)
    assert summary["internal_error"] == "no space left on device writing x" and summary["exit_code"] == 3


def test_unit_interrupted_goes_back_to_the_head_without_an_attempt() -> None:
    coord, _ = make((1.0,), assign=False)
    load(coord, 0, "a", "b")
    flight = coord.next_unit(0)
    assert flight.unit.uid == "a" and flight.attempt == 1
    coord.unit_interrupted(0)
    assert queue_of(coord, 0) == ["a", "b"]
    assert coord.next_unit(0).attempt == 1
