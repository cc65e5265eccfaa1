"""Monitoring: the workers' reports, stalls, whole-run histories, "live readings lost".

Worker reports arrive through a shared dict (a Manager dict for local
workers, IPC; the Ray backend fills a plain one): ``read_reports()`` is
called outside the coordinator's lock and its copy passed in. Monitoring
faults are warnings, never a reason to stop the run: a dead Manager, a
failing NVML or a silent reporter thread each give one "live readings
lost" event and the run goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, TypeGuard

from ..control import snapshot as S
from ..policy.throughput import is_stalled
from .device_book import DeviceBook
from .events import EventLog
from .messages import Report, Reports
from .progress import UnitProgress

READINGS_LOST_S = 10.0  # no heartbeat this long from a live worker: say its readings are lost


class DeviceMonitoring:
    def __init__(self, books: Sequence[DeviceBook], status: MutableMapping[int, Any], progress: UnitProgress,
                 log: EventLog, clock: Callable[[], float], lock: threading.RLock, *,
                 stall_timeout: float) -> None:
        """``status``: the dict the workers report into, by device index;
        ``stall_timeout``: --stall-timeout."""
        self.books, self.status, self.progress, self.log = books, status, progress, log
        self.clock, self.lock = clock, lock
        self.stall_timeout = stall_timeout
        self._readings_lost = False  # the Manager is gone: said once
        self._frozen: dict[int, Report] | None = None  # the last reports, kept once the run ends
        self._cut_reader: int | None = None  # a thread interrupted while reading reports

    def detect_stalled_workers(self, stall_threshold: float | None = None,
                               reports: Reports | None = None) -> list[int]:
        """Flag devices holding a unit with no progress for ``stall_threshold`` s;
        returns the devices newly flagged. ``reports``: a copy of the workers'
        reports, read by the caller outside ``lock`` (read here when omitted)."""
        threshold = self.stall_timeout if stall_threshold is None else stall_threshold
        now = self.clock()
        reports = self.read_reports() if reports is None else reports
        self.progress.note(reports)  # progress on running units, for stealing between ticks
        newly = []
        for book in self.books:
            last = self._last_activity(book, reports.get(book.spec.index))
            busy = book.in_flight is not None or book.sent > 0  # it may be running a unit sent ahead
            stalled = book.alive and is_stalled(now, last, busy, threshold)
            if stalled and not book.stalled:
                newly.append(book.spec.index)
                unit = book.in_flight.unit.uid if book.in_flight else "?"
                self.log.add(S.EV_STALL, "warning",
                             f"{book.spec.label} stalled: no progress on {unit} for {threshold:g} s",
                             book.spec.index, now)
            book.stalled = stalled
        return newly

    def check_readings(self, reports: Reports) -> None:
        """Monitoring faults are worth a warning, never a stop: say once per
        device when its live readings fail or go silent (the Manager's own
        death is reported by ``read_reports``). Keeps what outlives each worker."""
        self.keep_last_words(reports)
        if self._readings_lost:
            return
        now = self.clock()
        for book in self.books:
            report = reports.get(book.spec.index) or {}
            problem = report.get("reading_error")
            beat = report.get("heartbeat")
            if not problem and book.ready and book.alive and beat and now - beat > READINGS_LOST_S:
                problem = f"no report from its worker for {now - beat:.0f} s"
            if problem and not book.readings_warned:
                book.readings_warned = True
                self.log.add(S.EV_WARNING, "warning",
                             f"live readings lost on {book.spec.label}: {problem}", book.spec.index, now)
            elif not problem:
                book.readings_warned = False

    def keep_last_words(self, reports: Reports) -> None:
        """What outlives the worker (summary.json): the task's notes as last reported,
        and what each of the device's worker processes last reported of its CPU
        seconds, its time by phase, the task's counts, its GPU's energy and its setup."""
        for book in self.books:
            report = reports.get(book.spec.index) or {}
            notes = report.get("task_notes")
            if notes:
                book.task_notes = dict(notes)
            pid = report.get("pid")
            if pid is None:
                continue
            cpu = report.get("cpu_s")
            if cpu is not None:
                book.worker_cpu[pid] = float(cpu)
            keep_work(book, pid, report)

    def _last_activity(self, book: DeviceBook, report: Report | None) -> float | None:
        times = [t for t in (book.last_progress, (report or {}).get("progress_time")) if t]
        return max(times) if times else None

    def sample_history(self, reports: Reports | None = None) -> None:
        """Append one point per device to the whole-run histories (dispatcher tick)."""
        now = self.clock()
        reports = self.read_reports() if reports is None else reports
        for book in self.books:
            book.throughput_history.add(now, book.throughput.rate(now) or 0.0)
            report = reports.get(book.spec.index) or {}
            book.utilization_history.add(now, report.get("utilization"))

    def read_reports(self, *, finished: bool = False) -> dict[int, Report]:
        """A copy of the workers' reports (Manager IPC: call outside ``lock``).
        After ``freeze_reports()`` the last copy is returned, untouched.
        ``finished``: the run is over, so a lost Manager is not news."""
        if self._frozen is not None:
            return self._frozen
        if self._cut_reader == threading.get_ident():
            return {}
        try:
            return dict(self.status.copy()) if hasattr(self.status, "copy") else dict(self.status)
        except Exception as exc:  # noqa: BLE001 - any proxy failure means the same: no readings
            if not self._readings_lost and not finished:
                self._readings_lost = True
                self.log.add(S.EV_WARNING, "warning",
                             f"live readings lost: the Manager process is gone ({type(exc).__name__}); "
                             "utilization and memory stop updating, the run goes on")
            return {}
        except BaseException:
            # Interrupted mid-call (a second Ctrl+C raises in the main thread): this
            # thread's connection to the Manager may hold a reply never read, or half of
            # one, so this thread asks no more; other threads have connections of their own.
            self._cut_reader = threading.get_ident()
            raise

    def freeze_reports(self) -> None:
        """Keep the last readings for the final snapshots (the Manager is about to go),
        and the task notes in them: a run shorter than one housekeeping tick has
        read none yet, and summary.json is built from what the books hold."""
        self._frozen = self.read_reports()
        with self.lock:
            self.keep_last_words(self._frozen)


def keep_work(book: DeviceBook, pid: int, report: Report) -> None:
    """One worker's phases, counts, energy and setup time, as last reported (a malformed
    figure leaves the last good one: readings are never a reason to stop)."""
    phases, counts = report.get("phases"), report.get("task_counts")
    if isinstance(phases, Mapping) and all(_number(v) for v in phases.values()):
        book.phases[pid] = {str(k): float(v) for k, v in phases.items()}
    if isinstance(counts, Mapping) and all(_number(v) for v in counts.values()):
        book.task_counts[pid] = {str(k): int(v) for k, v in counts.items()}
    for key, last in (("energy_j", book.energy_j), ("setup_s", book.setup_s)):
        value = report.get(key)
        if _number(value):
            last[pid] = float(value)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
