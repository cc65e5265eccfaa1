"""Main-process bookkeeping for one device: its queue, counters and history.

The coordinator keeps one ``DeviceBook`` per device and hands the list to each
of its parts: the queues move units, the others set the flags their rules
decide (ready, stalled, dead, ...). Everything here lives in
the main process; what the worker itself reports (heartbeat, progress, NVML
readings) arrives separately through the shared Manager dict.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..control.snapshot import UnitRecord
from ..hardware.devices import DeviceSpec
from ..inputs.units import Unit
from ..policy.history import History
from ..policy.throughput import Throughput

RECORDS_KEPT = 1000  # units listed on the detail screen; older ones only count
ERRORS_KEPT = 50  # per device; the run keeps its own list too


@dataclass
class InFlight:
    unit: Unit
    attempt: int  # 1 for the first try
    started: float  # epoch seconds
    stolen: bool
    cut: bool = False  # its rest was cut off in flight: ``unit`` is the head it still runs
    output: str = ""  # the result path the worker was given (a head keeps its parent's)
    ahead: bool = False  # it was sent ahead: the worker has it already (nothing to send)
    stop_asked: bool = False  # a stop asked it to end at its next boundary (stop_cuts)


class DeviceBook:
    def __init__(self, spec: DeviceSpec, weight: float) -> None:
        self.spec = spec
        self.weight = weight  # capability weight used for assignment (1.0 with --no-weighted)
        self.queue: deque[Unit] = deque()
        # The first ``sent`` queued units were sent ahead to the worker, which runs them
        # in this order: no steal or give-back may take them until the worker dropped
        # them (``release``) or is gone. Only the local backend sends ahead.
        self.sent = 0
        self.withdrawing = False  # a Withdraw is on its way to the worker: start nothing until it answers
        self.queued_cost = 0.0
        self.queued_sequences = 0
        self.in_flight: InFlight | None = None
        self.ready = False  # the worker finished setup and asked for work
        self.dead = False
        self.paused = False
        self.draining = False
        self.drained = False
        self.stalled = False
        self.restarts = 0  # stalled workers replaced (--stall-action restart)
        self.fault_restarts = 0  # workers replaced after a CUDA error or failures in a row
        # Units that failed here since its last success, each with whether that
        # failure was counted against the unit (refunded if the device is retired).
        self.streak: list[tuple[Unit, bool]] = []
        self.setup_retries = 0  # setups to retry before giving up (one after each restart)
        self.ever_ready = False  # some worker of it finished setup in this run
        self.reason: str | None = None  # why it is dead, retired or restarting (dashboard, summary)
        self.readings_warned = False  # "live readings lost" said once per outage
        self.task_notes: dict[str, str] = {}  # the task's last notes from this device (kept after it stops)
        self.worker_cpu: dict[int, float] = {}  # CPU s each worker process of this device last reported, by pid
        # What each worker process last reported, by pid (a restarted worker adds its own):
        self.phases: dict[int, dict[str, float]] = {}  # seconds per phase (tasks/phases.py) since it was ready
        self.task_counts: dict[int, dict[str, int]] = {}  # the task's counts (e.g. fp32_redone_batches)
        self.energy_j: dict[int, float] = {}  # joules its GPU used while it lived
        self.setup_s: dict[int, float] = {}  # seconds its setup (model loading) took
        self.pid: int | None = None
        self.units_done = 0
        self.sequences_done = 0
        self.units_failed = 0
        self.stolen_in = 0
        self.stolen_out = 0
        self.split_in = 0  # tails of running units this device was given
        self.split_out = 0  # running units of this device whose rest went elsewhere
        self.busy_s = 0.0
        self.cost_done = 0.0
        self.last_progress: float | None = None
        self.throughput = Throughput()
        self.records: deque[UnitRecord] = deque(maxlen=RECORDS_KEPT)
        self.errors: deque[str] = deque(maxlen=ERRORS_KEPT)
        self.throughput_history = History()
        self.utilization_history = History()

    # -- queue (dispatcher thread, under the coordinator's lock) -------------
    def push(self, unit: Unit, front: bool = False) -> None:
        """Queue ``unit`` last, or first among the units not sent ahead."""
        if not front:
            self.queue.append(unit)
        elif self.sent:
            self.queue.insert(self.sent, unit)
        else:
            self.queue.appendleft(unit)
        self.queued_cost += unit.cost
        self.queued_sequences += unit.sequences

    def pop_head(self) -> Unit | None:
        """The next unit to run (the first sent ahead, if any)."""
        if not self.queue:
            return None
        if self.sent:
            self.sent -= 1
        return self._took(self.queue.popleft())

    def pop_tail(self, accept: Callable[[Unit], bool] | None = None) -> Unit | None:
        """The last queued unit not sent ahead (a steal), or the last one ``accept`` allows."""
        if accept is None:
            return self._took(self.queue.pop()) if len(self.queue) > self.sent else None
        for pos in range(len(self.queue) - 1, self.sent - 1, -1):
            unit = self.queue[pos]
            if accept(unit):
                del self.queue[pos]
                return self._took(unit)
        return None

    def take_all(self) -> list[Unit]:
        """Every queued unit that was not sent ahead (those stay until released)."""
        kept = [self.queue.popleft() for _ in range(self.sent)]
        units = list(self.queue)
        self.queue.clear()
        self.queue.extend(kept)
        self.queued_cost = sum(u.cost for u in kept)
        self.queued_sequences = sum(u.sequences for u in kept)
        return units

    def reserve(self, count: int) -> list[Unit]:
        """Mark the next ``count`` queued units after those already sent ahead as sent."""
        count = max(0, min(count, len(self.queue) - self.sent))
        units = [self.queue[self.sent + k] for k in range(count)]
        self.sent += count
        return units

    def release(self, count: int | None = None) -> None:
        """The worker dropped its last ``count`` units sent ahead (all: it is gone)."""
        self.sent = 0 if count is None else max(0, self.sent - count)

    def _took(self, unit: Unit) -> Unit:
        self.queued_cost -= unit.cost
        self.queued_sequences -= unit.sequences
        if not self.queue:  # float drift must not leave a phantom backlog
            self.queued_cost = 0.0
            self.queued_sequences = 0
        return unit

    def unit_done(self, flight: InFlight, sequences: int, duration: float, now: float) -> None:
        """Count a unit this device finished (its flight is already cleared)."""
        self.cost_done += flight.unit.cost
        self.units_done += 1
        self.sequences_done += sequences
        self.busy_s += duration
        self.last_progress = now
        self.throughput.add(now, sequences, duration)
        self.records.append(UnitRecord(flight.unit.uid, sequences, duration, flight.stolen, True, now))

    # -- state -------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not (self.dead or self.drained)

    @property
    def accepts_work(self) -> bool:
        """Can be handed units (from its queue, a steal or a redistribution)."""
        return self.alive and not (self.paused or self.draining)
