"""Monitoring faults are warnings, never a stop: NVML errors, a silent reporter,
a Manager that is gone. Each is said once per outage."""

from __future__ import annotations

from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.coordinator.coordinator import Coordinator
from virnucpro_bridge.coordinator.monitoring import READINGS_LOST_S
from virnucpro_bridge.hardware.devices import parse_gpus


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def make(status=None) -> tuple[Coordinator, Clock]:
    clock = Clock()
    coord = Coordinator(parse_gpus("sim:1,1"), [], status=status, clock=clock)
    for b in coord.books:
        coord.device_ready(b.spec.index, pid=10 + b.spec.index)
    return coord, clock


def warnings(coord: Coordinator) -> list[str]:
    return [e.message for e in coord.snapshot().events if e.kind == S.EV_WARNING]


def test_a_reading_error_is_one_warning_until_it_clears() -> None:
    coord, clock = make()
    broken = {0: {"heartbeat": clock.t, "reading_error": "NVMLError_Unknown: Unknown Error"}}
    coord.monitoring.check_readings(broken)
    coord.monitoring.check_readings(broken)
    assert warnings(coord) == ["live readings lost on SIM0: NVMLError_Unknown: Unknown Error"]
    coord.monitoring.check_readings({0: {"heartbeat": clock.t, "reading_error": None}})
    coord.monitoring.check_readings(broken)
    assert len(warnings(coord)) == 2  # a new outage is said again


def test_a_silent_reporter_is_a_warning() -> None:
    coord, clock = make()
    coord.monitoring.check_readings({0: {"heartbeat": clock.t}, 1: {"heartbeat": clock.t}})
    assert warnings(coord) == []
    clock.t += READINGS_LOST_S + 1
    coord.monitoring.check_readings({0: {"heartbeat": clock.t}, 1: {"heartbeat": clock.t - READINGS_LOST_S - 1}})
    assert warnings(coord) == [f"live readings lost on SIM1: no report from its worker for {READINGS_LOST_S + 1:.0f} s"]


class GoneManager:
    def copy(self):
        raise BrokenPipeError("the Manager process is gone")


def test_a_gone_manager_is_one_warning_and_no_readings() -> None:
    coord, _ = make(status=GoneManager())
    assert coord.read_reports() == {} and coord.read_reports() == {}
    said = warnings(coord)
    assert len(said) == 1 and said[0].startswith("live readings lost: the Manager process is gone (BrokenPipeError)")
    assert all(d.utilization is None for d in coord.snapshot().devices)
    assert not coord.stopping  # the run goes on


class Interrupted(BaseException):
    """What a second Ctrl+C raises in the main thread (lbtui.run_cmd.HardStop)."""


class InterruptedOnce:
    """A Manager dict whose first copy is cut short by an interruption."""

    def __init__(self) -> None:
        self.calls = 0

    def copy(self):
        self.calls += 1
        if self.calls == 1:
            raise Interrupted
        return {0: {"utilization": 50.0}}


def test_an_interruption_while_reading_reports_is_not_swallowed_nor_taken_for_a_lost_manager() -> None:
    """A second Ctrl+C in the middle of the Manager call must reach the run command (an
    ``except Exception`` once swallowed it, and the run printed "finished" for a stopped
    run). The interrupted thread's connection may hold half a reply: that thread asks
    no more; another thread still reads."""
    import threading

    import pytest

    status = InterruptedOnce()
    coord, _ = make(status=status)
    with pytest.raises(Interrupted):
        coord.read_reports()
    assert coord.read_reports() == {} and status.calls == 1
    assert warnings(coord) == []  # the Manager is not gone
    seen = []
    reader = threading.Thread(target=lambda: seen.append(coord.read_reports()))
    reader.start()
    reader.join()
    assert seen == [{0: {"utilization": 50.0}}] and status.calls == 2


def test_task_notes_reach_the_snapshot_the_detail_and_the_summary() -> None:
    """What a task says about its device (e.g. a batch budget it had to lower) is kept
    from the last report, even once the worker has stopped reporting."""
    from virnucpro_bridge.control.wire import from_plain, to_plain
    from virnucpro_bridge.coordinator.views import build_summary

    coord, clock = make()
    notes = {"precision": "bf16", "ESM-2 batch": "8192 tokens (from 16384; 1x out of memory)"}
    coord.monitoring.check_readings({0: {"heartbeat": clock.t, "task_notes": notes}})
    coord.monitoring.check_readings({0: {"heartbeat": clock.t}})  # a later report without notes keeps the last ones
    view = coord.snapshot().devices[0]
    assert dict(view.task_notes) == notes and coord.snapshot().devices[1].task_notes == ()
    assert from_plain(S.DeviceView, to_plain(view)) == view  # crosses attach/serve's wire intact
    assert build_summary(coord)["devices"][0]["task_notes"] == notes


def test_notes_reported_after_the_last_tick_still_reach_the_summary() -> None:
    """A run shorter than one housekeeping tick (or a final report after it):
    the notes are taken from the reports frozen at the end."""
    from virnucpro_bridge.coordinator.views import build_summary

    notes = {"precision": "fp32", "DNABERT batch": "2048 tokens"}
    coord, _ = make(status={1: {"task_notes": notes}})
    assert build_summary(coord)["devices"][1]["task_notes"] == {}  # no tick has read them
    coord.freeze_reports()
    assert build_summary(coord)["devices"][1]["task_notes"] == notes


def test_worker_cpu_adds_up_a_replaced_workers_and_outlives_them() -> None:
    """summary.json's worker_cpu_s: each worker process's last report, summed over the
    device's processes (a worker restarted after a stall starts from zero again)."""
    from virnucpro_bridge.coordinator.views import build_summary

    coord, clock = make()
    coord.monitoring.check_readings({0: {"heartbeat": clock.t, "pid": 10, "cpu_s": 1.5}})
    coord.monitoring.check_readings({0: {"heartbeat": clock.t, "pid": 10, "cpu_s": 2.0}})  # the same process, later
    coord.monitoring.check_readings({0: {"heartbeat": clock.t, "pid": 77, "cpu_s": 0.25}})  # its replacement
    coord.monitoring.check_readings({})  # the worker is gone: its last figures stay
    devices = build_summary(coord)["devices"]
    assert devices[0]["worker_cpu_s"] == 2.25 and devices[1]["worker_cpu_s"] == 0.0


def test_time_split_energy_and_counts_add_up_over_a_devices_workers_and_reach_every_view() -> None:
    """Where a device's time went (per phase), its GPU's energy and the task's counts
    (e.g. batches redone in float32): each worker process's last report, summed over the
    device's processes; in the snapshot, across the wire, and in summary.json."""
    from virnucpro_bridge.control.wire import from_plain, to_plain
    from virnucpro_bridge.coordinator.views import build_summary

    coord, clock = make()
    first = {"input": 1.0, "cpu": 2.0, "gpu": 6.0, "write": 1.0}
    coord.monitoring.check_readings({0: {"heartbeat": clock.t, "pid": 10, "phases": first, "energy_j": 7200.0,
                                         "task_counts": {"fp32_redone_batches": 2}, "setup_s": 3.0}})
    coord.monitoring.check_readings({0: {"heartbeat": clock.t, "pid": 77, "phases": {"input": 0.5, "gpu": 3.5},
                                         "energy_j": 3600.0, "task_counts": {"fp32_redone_batches": 1},
                                         "setup_s": 2.0}})
    malformed = {"heartbeat": clock.t, "pid": 77, "phases": {"input": "?"}}
    coord.monitoring.check_readings({0: malformed})  # ignored: the last good figures stay
    coord.books[0].sequences_done = 2_000
    view = coord.snapshot().devices[0]
    assert dict(view.time_split) == {"input": 1.5, "cpu": 2.0, "gpu": 9.5, "write": 1.0}
    assert view.energy_wh == 3.0 and dict(view.task_counts) == {"fp32_redone_batches": 3}
    assert from_plain(S.DeviceView, to_plain(view)) == view
    device = build_summary(coord)["devices"][0]
    assert device["time_split_s"] == {"input": 1.5, "cpu": 2.0, "gpu": 9.5, "write": 1.0}
    assert device["worker_wall_s"] == 14.0 and sum(device["time_split_pct"].values()) == 100.0
    assert device["energy_wh"] == 3.0 and device["wh_per_million_seqs"] == 1500.0
    assert device["task_counts"] == {"fp32_redone_batches": 3} and device["setup_s"] == 5.0
    quiet = build_summary(coord)["devices"][1]  # a device that reported none of it
    assert quiet["time_split_s"] == {} and quiet["energy_wh"] is None and quiet["task_counts"] == {}
