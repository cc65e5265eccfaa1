"""Frozen views of a run, copied out of the coordinator once per poll.

These are the boundary between the engine and every UI (Textual app, headless
log, JSON). They hold plain data only: no Manager proxies, no locks. A reading
that is not available is ``None``; turning ``None`` into "–" is the
formatter's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Device states, in the order a device usually goes through them.
STARTING = "starting"
RUNNING = "running"
IDLE = "idle"
PAUSED = "paused"
DRAINING = "draining"
DRAINED = "drained"
STALLED = "stalled"
DEAD = "dead"
DONE = "done"
DEVICE_STATES = (STARTING, RUNNING, IDLE, PAUSED, DRAINING, DRAINED, STALLED, DEAD, DONE)

# Event kinds carried in RunSnapshot.events.
EV_STEAL = "steal"
EV_SPLIT = "split"  # an idle device took the rest of a running unit
EV_STALL = "stall"
EV_DEATH = "death"
EV_RETRY = "retry"
EV_FAILURE = "failure"
EV_CONTROL = "control"  # pause / resume / drain / stealing on-off / stop
EV_INFO = "info"
EV_WARNING = "warning"
EV_ERROR = "error"  # the run itself failed (disk full, internal error): it stops

# RunEvent.action of EV_CONTROL events (what the report shades, e.g. pauses).
ACTIONS = ("pause", "resume", "drain", "drained", "stealing_on", "stealing_off", "stop", "stop_now")


@dataclass(frozen=True)
class StealEvent:
    """One steal: ``thief`` took ``unit`` from the tail of ``victim``'s queue."""

    seq: int  # shared with RunEvent.seq: one counter for all events of a run
    time: float  # epoch seconds
    thief: int  # device index (position in the device list)
    victim: int
    unit: str  # unit id, e.g. "sample_17.fa" or "big.fa#2"
    sequences: int


@dataclass(frozen=True)
class RunEvent:
    """A line for the event log. ``seq`` grows by one per event, run-wide, so a
    log widget appends only events with ``seq > last_seq``."""

    seq: int
    time: float
    kind: str  # one of the EV_* constants
    level: str  # "info", "warning" or "error"
    message: str  # plain text, ready to print
    device: int | None = None
    steal: StealEvent | None = None  # EV_STEAL, and EV_SPLIT (thief, victim, the tail's uid and records)
    unit: str | None = None  # the unit it concerns, when one does
    action: str | None = None  # EV_CONTROL: one of the ACTIONS below


@dataclass(frozen=True)
class DeviceView:
    """Everything known about one device at snapshot time."""

    index: int  # position in the device list (what the CLI and manifest call device_index)
    name: str  # "NVIDIA H100 80GB HBM3", "cpu0", "sim2 (x1.5)"
    kind: str  # "cuda", "cpu" or "sim"
    state: str  # one of DEVICE_STATES
    weight: float  # capability weight used for assignment
    utilization: float | None  # percent; NVML for CUDA, busy fraction otherwise
    memory: float | None  # percent; NVML for CUDA, worker RSS / host RAM otherwise
    temperature: float | None  # degrees C (CUDA only)
    power: float | None  # watts (CUDA only)
    throughput: float | None  # sequences/s, rolling (60 s or last 10 units)
    queue_depth: int  # units waiting in this device's queue
    queue_sequences: int  # sequences waiting in this device's queue
    units_done: int
    sequences_done: int
    units_failed: int
    stolen_in: int
    stolen_out: int
    busy_s: float  # seconds spent processing units
    current_unit: str | None
    current_progress: float | None  # 0..1 when the task reports progress
    last_activity: float | None  # epoch seconds of the last progress/heartbeat
    stalled: bool
    pid: int | None
    paused: bool = False  # control flag (state may still be "running" until the unit ends)
    draining: bool = False
    split_in: int = 0  # tails of running units it took (counted apart from steals)
    split_out: int = 0  # its running units whose rest another device took
    reason: str | None = None  # why it is dead, retired or restarting ("retired: 3 units in a row failed ...")
    source: str = ""  # who listed this CUDA device: "nvml" or "torch" ("" for cpu and sim)
    memory_total: int | None = None  # bytes, when known (CUDA)
    task_notes: tuple[tuple[str, str], ...] = ()  # what the task reports about this device (e.g. batch budget)
    # Seconds its workers spent per phase since they were ready: ("input", s), ("cpu", s), ("gpu", s),
    # ("write", s) (tasks/phases.py: waiting for work, host preparation, the model, writing results).
    time_split: tuple[tuple[str, float], ...] = ()
    energy_wh: float | None = None  # its GPU's energy while its workers ran (CUDA with NVML)
    task_counts: tuple[tuple[str, int], ...] = ()  # the task's counts, summed over its workers

    @property
    def label(self) -> str:
        """Short name for logs: GPU0, CPU1, SIM2 (by list position)."""
        return device_label(self.kind, self.index)


def device_label(kind: str, index: int) -> str:
    return {"cuda": "GPU", "cpu": "CPU", "sim": "SIM"}.get(kind, "DEV") + str(index)


@dataclass(frozen=True)
class RunSnapshot:
    """The whole run at one instant."""

    time: float  # epoch seconds when the snapshot was taken
    name: str  # short description of the inputs
    task: str
    out_dir: str
    started_at: float | None  # epoch seconds of the first dispatch
    elapsed: float  # seconds since the run started
    eta: float | None  # seconds, None until it can be estimated
    devices: tuple[DeviceView, ...]
    units_total: int
    units_done: int  # completed in this run (skipped-by-resume not included)
    units_skipped: int  # already done in an earlier run (resume)
    units_failed: int
    units_in_flight: int
    sequences_total: int
    sequences_done: int
    throughput: float | None  # sequences/s, run-wide rolling
    stealing: bool
    steals_total: int
    steals: tuple[StealEvent, ...]  # last 50
    events: tuple[RunEvent, ...]  # last 200, oldest first
    errors: tuple[str, ...]  # recent errors, oldest first
    finished: bool
    stopping: bool  # a stop was requested; no new work is handed out
    exit_code: int | None  # set once finished
    summary: dict[str, Any] | None = None  # summary.json contents once finished
    error: str | None = None  # why the run was aborted (disk full, internal error), if it was
    notices: tuple[str, ...] = field(default_factory=tuple)  # e.g. "demo models: predictions are meaningless"
    splits_total: int = 0  # running units cut in flight (not counted in steals_total)
    device_source: str = ""  # who listed the CUDA devices: "nvml", "torch" ("" without CUDA devices)


@dataclass(frozen=True)
class UnitRecord:
    """One unit a device finished (or failed), for the device detail screen."""

    unit: str
    sequences: int
    seconds: float
    stolen: bool
    ok: bool
    finished_at: float
    error: str | None = None


@dataclass(frozen=True)
class DeviceDetail:
    """The long view of one device: history over the whole run.

    The histories are (epoch seconds, value) samples; the coordinator keeps
    them bounded by halving their resolution as the run grows, so they cover
    the whole run rather than the last screen width.
    """

    device: DeviceView
    throughput_history: tuple[tuple[float, float], ...]
    utilization_history: tuple[tuple[float, float], ...]
    units: tuple[UnitRecord, ...]  # oldest first (bounded: last 1,000)
    errors: tuple[str, ...]
