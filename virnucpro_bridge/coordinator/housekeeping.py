"""What every backend's dispatcher does on each pass, whatever carries its work.

The local pool (pipes to processes) and the Ray backend (actor calls) differ
in how they talk to workers; the rules for stops, drains, steal look-ups,
stalls, readings and history samples are the same, so they live here once.
A backend gets its own from ``Coordinator.housekeeping()`` when its loop
starts, and calls it with the coordinator's lock held.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..hardware.slurm import DEFAULT_GRACE_S
from ..options import RunOptions
from .commands import RunControls
from .health import DeviceHealth
from .messages import Reports
from .monitoring import DeviceMonitoring

TICK_S = 0.25  # housekeeping and readings period; also bounds how late a resume is noticed


class Housekeeping:
    def __init__(self, controls: RunControls, health: DeviceHealth, monitoring: DeviceMonitoring,
                 drains: Callable[[], list[int]], options: RunOptions) -> None:
        """``drains``: gives back drained devices' queues, returns those to stop now.
        Reads --grace, --steal-interval, --refresh and --stall-action from ``options``."""
        self.controls, self.health, self.monitoring, self.drains = controls, health, monitoring, drains
        self.options = options
        self.stop_requested_at: float | None = None
        self.last_steal = self.last_tick = self.last_refresh = time.monotonic()

    def tick_due(self) -> bool:
        """Time to read the workers' reports again (outside the lock: IPC)."""
        return time.monotonic() - self.last_tick >= TICK_S

    def must_stop(self, now: float) -> bool:
        """A stop now, or a stop whose --grace has run out: the caller aborts."""
        controls = self.controls
        if controls.stopping and self.stop_requested_at is None:
            self.stop_requested_at = now
        grace = DEFAULT_GRACE_S if self.options.grace is None else self.options.grace  # None: not yet chosen
        return controls.stop_now or (self.stop_requested_at is not None
                                  and now - self.stop_requested_at > grace)

    def pass_(self, now: float, reports: Reports | None, *, stop_device: Callable[[int], None],
              restart: Callable[[int], None],
              respawn: Callable[[int], None] | None = None) -> tuple[bool, bool]:
        """Drains, device restarts and retirements, stalls, readings, history.
        Returns (steal_due, sample): whether idle devices may look for work to
        steal, and whether a refresh is due. ``restart``: replace a stalled
        worker (the coordinator's ``restart_stalled`` decides); ``respawn``:
        replace a worker the coordinator already decided to (a CUDA error, a
        failed setup after a restart), after its device's memory is freed. A
        backend without ``respawn`` retires such a device instead."""
        for i in self.drains():
            stop_device(i)
            self.controls.mark_drained(i)
        for i in self.health.take_stops():  # retired: its failures were its own
            stop_device(i)
        for i in self.health.take_restarts():
            if respawn is not None:
                respawn(i)
            else:
                self.health.device_died(i, "its worker needs a restart, which this backend cannot do",
                                        verb="retired")
                stop_device(i)
        steal_due = now - self.last_steal >= self.options.steal_interval
        if steal_due:
            self.last_steal = now
        sample = False
        if reports is not None:
            self.last_tick = now
            stalled = self.monitoring.detect_stalled_workers(reports=reports)
            if self.options.restart_stalled:
                for i in stalled:
                    restart(i)
            self.monitoring.check_readings(reports)
            if now - self.last_refresh >= self.options.refresh:
                self.last_refresh = now
                self.monitoring.sample_history(reports)
                sample = True
        return steal_due, sample
