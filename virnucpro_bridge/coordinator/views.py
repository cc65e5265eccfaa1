"""Copy the coordinator's live state out into frozen snapshot views.

Kept apart from ``coordinator.py`` so the scheduling code stays short: this
module only reads. ``reports`` is one copy of the Manager dict the workers
write into (heartbeat, progress, utilization, memory ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..control import snapshot as S
from ..tasks.phases import PHASES
from .commands import RunControls
from .counts import RunCounts
from .device_book import DeviceBook
from .events import EventLog
from .messages import Report, Reports
from .progress import UnitProgress
from .queues import Queues
from .recovery import Recovery
from .splitting import Splitting


class RunState(Protocol):
    """What of the run the views read: the Coordinator's parts and its own end state.
    (A protocol, so that this module needs nothing of ``coordinator.py``, which calls it.)"""

    @property
    def books(self) -> Sequence[DeviceBook]: ...
    @property
    def counts(self) -> RunCounts: ...
    @property
    def log(self) -> EventLog: ...
    @property
    def queues(self) -> Queues: ...
    @property
    def progress(self) -> UnitProgress: ...
    @property
    def recovery(self) -> Recovery: ...
    @property
    def splitting(self) -> Splitting: ...
    @property
    def controls(self) -> RunControls: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def name(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def out_dir(self) -> str: ...
    @property
    def notices(self) -> tuple[str, ...]: ...
    @property
    def created(self) -> float: ...
    @property
    def merge_failed(self) -> Mapping[str, str]: ...
    @property
    def interrupted(self) -> bool: ...
    @property
    def finished(self) -> bool: ...
    @property
    def finished_at(self) -> float | None: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def summary(self) -> dict[str, Any] | None: ...


def device_state(coord: RunState, book: DeviceBook) -> str:
    if book.dead:
        return S.DEAD
    if book.drained:
        return S.DRAINED
    if book.draining:
        return S.DRAINING
    if book.stalled:
        return S.STALLED
    if not book.ready:
        # A run with nothing left to do (all resumed) never starts its workers.
        return S.DONE if coord.finished else S.STARTING
    if book.in_flight is not None:  # a paused device finishes its unit first (DeviceView.paused)
        return S.RUNNING
    if book.paused:
        return S.PAUSED
    if coord.finished or (coord.queues.queued == 0 and coord.queues.in_flight == 0):
        return S.DONE
    return S.IDLE


def device_view(coord: RunState, book: DeviceBook, report: Report | None, now: float) -> S.DeviceView:
    report = report or {}
    flight = book.in_flight
    progress = coord.progress.fraction(flight, report) if flight is not None else None
    depth, queued_seqs = len(book.queue), book.queued_sequences
    activity = [t for t in (book.last_progress, report.get("heartbeat")) if t]
    return S.DeviceView(
        index=book.spec.index,
        name=report.get("name") or book.spec.name,
        kind=book.spec.kind,
        state=device_state(coord, book),
        weight=book.weight,
        utilization=None if book.dead else report.get("utilization"),
        memory=None if book.dead else report.get("memory"),
        temperature=None if book.dead else report.get("temperature"),
        power=None if book.dead else report.get("power"),
        throughput=device_rate(coord, book, now),
        queue_depth=depth,
        queue_sequences=queued_seqs,
        units_done=book.units_done,
        sequences_done=book.sequences_done,
        units_failed=book.units_failed,
        stolen_in=book.stolen_in,
        stolen_out=book.stolen_out,
        busy_s=book.busy_s,
        current_unit=flight.unit.uid if flight else None,
        current_progress=progress,
        last_activity=max(activity) if activity else None,
        stalled=book.stalled,
        pid=book.pid or report.get("pid"),
        paused=book.paused,
        draining=book.draining,
        split_in=book.split_in,
        split_out=book.split_out,
        reason=book.reason,
        source=book.spec.source,
        memory_total=book.spec.memory_total,
        task_notes=tuple(book.task_notes.items()),
        time_split=tuple(time_split(book).items()),
        energy_wh=energy_wh(book),
        task_counts=tuple(task_counts(book).items()),
    )


def time_split(book: DeviceBook) -> dict[str, float]:
    """Seconds per phase, summed over the device's workers; {} before any reported."""
    if not book.phases:
        return {}
    return {p: sum(w.get(p, 0.0) for w in book.phases.values()) for p in PHASES}


def energy_wh(book: DeviceBook) -> float | None:
    return sum(book.energy_j.values()) / 3600.0 if book.energy_j else None


def task_counts(book: DeviceBook) -> dict[str, int]:
    out: dict[str, int] = {}
    for counts in book.task_counts.values():
        for name, n in counts.items():
            out[name] = out.get(name, 0) + n
    return out


def work_summary(book: DeviceBook) -> dict[str, Any]:
    """summary.json's figures of where a device's time went, and its energy."""
    split = time_split(book)
    wall = sum(split.values())
    wh = energy_wh(book)
    return {
        # its workers' time since each was ready, by phase (they add up to worker_wall_s)
        "time_split_s": {k: round(v, 3) for k, v in split.items()},
        "time_split_pct": {k: round(100.0 * v / wall, 1) for k, v in split.items()} if wall > 0 else {},
        "worker_wall_s": round(wall, 3),
        "setup_s": round(sum(book.setup_s.values()), 3) if book.setup_s else None,
        "energy_wh": None if wh is None else round(wh, 4),
        "wh_per_million_seqs": round(wh * 1e6 / book.sequences_done, 2) if wh and book.sequences_done else None,
        "task_counts": task_counts(book),
    }


def device_rate(coord: RunState, book: DeviceBook, now: float) -> float | None:
    """Sequences/s: rolling while the run goes; once it has finished, the device's mean
    over the run (sequences ÷ busy seconds), which no longer changes. A rolling rate
    read after the end would keep decaying as time passes with no work."""
    if coord.finished:
        return book.sequences_done / book.busy_s if book.busy_s > 0 and book.sequences_done else None
    return book.throughput.rate(now)


def run_rate(coord: RunState, now: float) -> float | None:
    """The run's sequences/s: rolling while it goes; once finished, its mean from the
    first dispatch to the last completion."""
    counts = coord.counts
    if not coord.finished:
        return counts.throughput.rate(now)
    start, end = counts.first_dispatch, counts.last_completion
    if start is None or end is None or end <= start or not counts.sequences_done:
        return None
    return counts.sequences_done / (end - start)


def eta(coord: RunState, now: float) -> float | None:
    """Seconds left; None until a unit has finished (no evidence of speed yet)."""
    if coord.finished:
        return 0.0
    if coord.counts.cost_done <= 0:
        return None
    return coord.queues.remaining_seconds(now)


def build_snapshot(coord: RunState, reports: Reports) -> S.RunSnapshot:
    """The run now; a finished run's snapshot is the same at every call (time, rates),
    so a dashboard left open after the end shows the end."""
    now = coord.clock()
    if coord.finished and coord.finished_at is not None:
        now = coord.finished_at
    devices = tuple(device_view(coord, b, reports.get(b.spec.index), now) for b in coord.books)
    counts, log = coord.counts, coord.log
    started = counts.first_dispatch
    return S.RunSnapshot(
        time=now,
        name=coord.name,
        task=coord.task,
        out_dir=coord.out_dir,
        started_at=started,
        elapsed=max(0.0, now - coord.created),  # wall time of the run, model loading included
        eta=eta(coord, now),
        devices=devices,
        units_total=counts.units_total + counts.units_skipped,
        units_done=counts.units_done,
        units_skipped=counts.units_skipped,
        units_failed=len(coord.recovery.failed),
        units_in_flight=coord.queues.in_flight,
        sequences_total=counts.sequences_total,
        sequences_done=counts.sequences_done,
        throughput=run_rate(coord, now),
        stealing=coord.controls.stealing,
        steals_total=log.steals_total,
        steals=tuple(log.steals),
        events=tuple(log.events),
        errors=tuple(log.errors),
        finished=coord.finished,
        stopping=coord.controls.stopping,
        exit_code=coord.exit_code,
        summary=coord.summary,
        notices=coord.notices,
        error=coord.controls.error,
        splits_total=counts.splits_total,
        device_source=device_source(coord),
    )


def device_source(coord: RunState) -> str:
    """Who listed the run's CUDA devices ("nvml", "torch"; both when they differ)."""
    return "+".join(sorted({b.spec.source for b in coord.books if b.spec.source}))


def build_detail(coord: RunState, index: int, reports: Reports) -> S.DeviceDetail:
    book = coord.books[index]
    now = coord.finished_at if coord.finished and coord.finished_at is not None else coord.clock()
    view = device_view(coord, book, reports.get(index), now)
    return S.DeviceDetail(
        device=view,
        throughput_history=book.throughput_history.points(),
        utilization_history=book.utilization_history.points(),
        units=tuple(book.records),
        errors=tuple(book.errors),
    )


def build_summary(coord: RunState) -> dict[str, Any]:
    """summary.json: makespan is first dispatch to last completion."""
    counts, failed = coord.counts, coord.recovery.failed
    start, end = counts.first_dispatch, counts.last_completion
    return {
        "makespan_s": round(end - start, 3) if start is not None and end is not None else 0.0,
        "files_total": counts.units_total + counts.units_skipped,
        "files_done": counts.units_done + counts.units_skipped,
        "files_skipped": counts.units_skipped,
        "files_failed": len(failed),
        "files_not_run": counts.units_total - counts.units_done - len(failed),
        "sequences": counts.sequences_done,
        "steals": coord.log.steals_total,
        "splits": counts.splits_total,
        "unit_fixed_cost_s": round(coord.splitting.fixed_cost_s, 4),  # the task's figure + the hand-off measured here
        "exit_code": coord.exit_code,
        "interrupted": coord.interrupted,
        "internal_error": coord.controls.error,
        "started_epoch": round(coord.created, 3),
        "finished_epoch": round(coord.finished_at, 3) if coord.finished_at else None,
        "task": coord.task,
        "notices": list(coord.notices),
        "failures": [{"unit": uid, "error": err} for uid, err in sorted(failed.items())],
        "merge_failures": [{"file": rel, "error": err} for rel, err in sorted(coord.merge_failed.items())],
        "devices": [
            {
                "index": b.spec.index,
                "name": b.spec.name,
                "kind": b.spec.kind,
                "weight": b.weight,
                "files_done": b.units_done,
                "files_failed": b.units_failed,
                "sequences": b.sequences_done,
                "busy_s": round(b.busy_s, 3),
                "stolen_in": b.stolen_in,
                "stolen_out": b.stolen_out,
                "split_in": b.split_in,
                "split_out": b.split_out,
                "restarts": b.restarts,
                "fault_restarts": b.fault_restarts,
                "task_notes": dict(b.task_notes),
                # its worker processes' CPU (start-up included; a replaced worker's too), as last reported
                "worker_cpu_s": round(sum(b.worker_cpu.values()), 3),
                **work_summary(b),
                "final_state": device_state(coord, b),
                "reason": b.reason if b.dead else None,  # why it died or was retired
                "source": b.spec.source,
            }
            for b in coord.books
        ],
    }
