"""Device health apart from unit health, on the coordinator alone (no processes):
restarts, retirements, refunds, never going back, and runs where no device starts."""

from __future__ import annotations

import pytest

from tests.engine.coordinator.test_coordinator import make, unit
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.coordinator.health import RETIRE_AFTER
from virnucpro_bridge.hardware.faults import is_device_fault

CUDA = "RuntimeError: CUDA error: an illegal memory access was encountered"


def run_on(coord, index: int):
    """Give device ``index`` its next unit (own queue or a steal)."""
    return coord.next_unit(index, allow_steal=True)


def test_an_always_failing_device_is_restarted_then_retired_and_every_unit_finishes() -> None:
    units = [unit(f"u{i}", 1000) for i in range(12)]
    coord, _ = make((1.0, 1.0, 1.0), units, retries=0)  # --retries 0: only refunds can save a unit
    good = run_on(coord, 1)
    coord.unit_done(1, 10, 0.1)  # device 1 is healthy
    assert good is not None
    first = run_on(coord, 0)
    coord.unit_failed(0, "RuntimeError: injected")
    assert first.unit.uid in coord.recovery.failed  # no retries left: failed, for now
    assert coord.health.take_restarts() == []  # one failure says nothing yet
    run_on(coord, 0)
    coord.unit_failed(0, "RuntimeError: injected")
    assert coord.health.take_restarts() == [0]  # two in a row while device 1 succeeds: a fresh worker
    assert coord.recovery.failed == {}  # ... and those two failures were the device's: both units queued again
    assert coord.snapshot().devices[0].state == S.STARTING
    assert coord.books[0].reason.startswith("restarting: 2 units in a row failed")
    coord.device_ready(0, pid=200)
    run_on(coord, 0)
    coord.unit_failed(0, "RuntimeError: injected")
    assert coord.health.take_stops() == [0]
    view = coord.snapshot().devices[0]
    assert view.state == S.DEAD and view.reason.startswith("retired: 3 units in a row failed on it")
    assert coord.recovery.failed == {}  # the three failures were the device's: refunded, requeued
    assert coord.books[0].units_failed == 0
    for _ in range(30):
        for i in (1, 2):
            if run_on(coord, i) is not None:
                coord.unit_done(i, 10, 0.1)
    assert coord.counts.units_done == 12 and coord.settle() == 0
    summary = coord.close_out(0)
    assert summary["devices"][0]["reason"].startswith("retired: ")
    assert summary["devices"][0]["fault_restarts"] == 1 and summary["devices"][1]["reason"] is None


def test_a_device_fault_costs_the_unit_nothing_and_restarts_the_worker_at_once() -> None:
    coord, _ = make((1.0, 1.0), [unit("a", 1000), unit("b", 1000)], retries=0)
    flight = run_on(coord, 0)
    _, retried = coord.unit_failed(0, CUDA, device_fault=True)
    assert retried and coord.recovery.charged.get(flight.unit.uid, 0) == 0
    assert coord.health.take_restarts() == [0]
    assert any(e.message.startswith("SIM0 restarted: device error: RuntimeError: CUDA") for e in coord.events)


def test_device_faults_in_a_row_retire_it_even_when_no_other_device_succeeds() -> None:
    coord, _ = make((1.0, 1.0), [unit(f"u{i}", 1000) for i in range(8)])
    for n in range(RETIRE_AFTER):
        coord.device_ready(0)
        assert run_on(coord, 0) is not None
        coord.unit_failed(0, CUDA, device_fault=True)
        assert coord.health.take_restarts() == ([0] if n < RETIRE_AFTER - 1 else [])
    assert coord.books[0].dead and coord.health.take_stops() == [0]


def test_when_every_device_fails_the_units_fail_and_no_device_is_retired() -> None:
    coord, _ = make((1.0, 1.0), [unit(f"u{i}", 1000) for i in range(6)], retries=0)
    for _ in range(3):
        for i in (0, 1):
            if run_on(coord, i) is not None:
                coord.unit_failed(i, "ValueError: the task is broken")
    assert not any(b.dead for b in coord.books)  # nobody succeeds: it is the task, not a device
    assert coord.health.take_restarts() == [] and len(coord.recovery.failed) == 6


def test_a_unit_never_goes_back_to_a_device_it_failed_on() -> None:
    coord, _ = make((1.0, 1.0), assign=False, retries=5)
    coord.books[1].push(unit("x", 1000))
    run_on(coord, 1)
    coord.unit_failed(1, "RuntimeError: once")
    assert [u.uid for u in coord.books[0].queue] == ["x"]  # requeued on the other device
    coord.books[0].paused = True  # its holder starts nothing: all of its queue is free to steal
    assert run_on(coord, 1) is None  # ... except by the device it failed on
    assert [u.uid for u in coord.books[0].queue] == ["x"]


def test_stealing_skips_a_unit_the_thief_failed() -> None:
    coord, _ = make((1.0, 1.0), assign=False, retries=5)
    coord.books[0].push(unit("x", 1000))
    run_on(coord, 0)
    coord.unit_failed(0, "RuntimeError: once")  # x is now queued on device 1
    coord.books[1].push(unit("w", 1000))  # behind x: the tail a thief takes first
    coord.books[1].push(unit("v", 1000))
    coord.books[1].paused = True  # device 1 starts nothing: device 0 may steal its whole queue
    taken = []
    while (flight := run_on(coord, 0)) is not None:
        taken.append(flight.unit.uid)
        coord.unit_done(0, 10, 0.1)
    assert sorted(taken) == ["v", "w"] and [u.uid for u in coord.books[1].queue] == ["x"]


def test_a_one_device_run_still_retries_an_ordinary_failure_there() -> None:
    coord, _ = make((1.0,), [unit("a", 100)], retries=1)
    run_on(coord, 0)
    _, retried = coord.unit_failed(0, "OSError: flaky disk")
    assert retried and run_on(coord, 0).attempt == 2


def test_a_device_fault_on_the_only_device_uses_the_units_retries() -> None:
    coord, _ = make((1.0,), [unit("a", 100)], retries=1)
    run_on(coord, 0)
    _, retried = coord.unit_failed(0, CUDA, device_fault=True)
    assert retried and coord.health.take_restarts() == [0]  # back to the same GPU, after a fresh worker
    coord.device_ready(0)
    assert run_on(coord, 0).attempt == 2
    _, retried = coord.unit_failed(0, CUDA, device_fault=True)
    assert not retried  # no second retry: it counted, so it cannot loop
    assert coord.recovery.failed["a"].endswith("(no device left that it has not failed on)")


def test_a_restarted_worker_gets_one_more_setup() -> None:
    coord, clock = make((1.0, 1.0), [unit("a", 1000), unit("b", 1000)], stall_timeout=5)
    run_on(coord, 0)
    clock.advance(6)
    assert coord.monitoring.detect_stalled_workers() == [0]
    assert coord.restart_stalled(0)
    assert coord.setup_failed(0, "RuntimeError: memory still held") is True
    assert coord.health.take_restarts() == [0] and not coord.books[0].dead
    assert coord.setup_failed(0, "RuntimeError: memory still held") is False
    assert coord.books[0].dead and coord.books[0].reason == "died: setup failed: RuntimeError: memory still held"
    assert coord.error is None  # device 1 was up: the run goes on


def test_a_first_setup_failure_is_not_retried() -> None:
    coord, _ = make((1.0, 1.0), [unit("a", 100)], ready=False)
    assert coord.setup_failed(0, "TaskError: no model") is False and coord.books[0].dead


def test_every_device_failing_setup_alike_stops_the_run_with_one_line_exit_2() -> None:
    coord, _ = make((1.0, 1.0, 1.0), [unit("a", 100), unit("b", 100)], ready=False)
    for i in range(3):
        assert coord.error is None
        coord.setup_failed(i, "TaskError: ESM-2 3B does not fit in 8 GB")
    assert coord.error == "setup failed on every device: TaskError: ESM-2 3B does not fit in 8 GB"
    assert coord.stopping and coord.settle() == 2
    assert coord.recovery.failed == {}  # nothing ran: no unit is blamed


def test_devices_failing_differently_still_stop_the_run() -> None:
    coord, _ = make((1.0, 1.0), [unit("a", 100)], ready=False)
    coord.setup_failed(0, "TaskError: no model")
    coord.device_died(1, "killed by SIGSEGV")
    assert coord.error == "no device could start: SIM0 setup failed: TaskError: no model (and 1 more; see errors.log)"
    assert coord.settle() == 2


def test_a_device_that_once_ran_dying_keeps_the_old_ending() -> None:
    coord, _ = make((1.0,), [unit("a", 100), unit("b", 100)])
    run_on(coord, 0)
    coord.device_died(0, "segfault")
    assert coord.error is None and coord.settle() == 1


class OutOfMemoryError(RuntimeError):
    pass


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (RuntimeError("CUDA error: device-side assert triggered"), True),
        (OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("CUDA error: no kernel image is available for execution on the device"), True),
        (RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED when calling cublasGemmEx"), True),
        (ValueError("sequence has no ORFs"), False),
        (OSError("No such file"), False),
    ],
)
def test_device_faults_are_told_from_unit_errors(exc: BaseException, fault: bool) -> None:
    assert is_device_fault(exc) is fault


def test_a_wrapped_cuda_error_is_still_a_device_fault() -> None:
    try:
        try:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        except RuntimeError as inner:
            raise ValueError("embedding failed") from inner
    except ValueError as outer:
        assert is_device_fault(outer)
