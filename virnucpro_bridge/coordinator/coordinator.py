"""The coordinator: one run's state, composed of parts that each own theirs.

It holds no processes. The backend (``backends/``) calls the scheduling
methods from its dispatcher thread; a UI calls ``snapshot()``,
``device_detail()`` and the commands from its own thread::

    UI thread ──commands──▶ Coordinator ◀──next_unit / unit_done── dispatcher
        ▲                     │    ▲                                 thread
        └──── snapshot() ─────┘    └── worker reports (a shared dict) ── workers

``__init__`` builds the parts (listed in ``coordinator/__init__.py``), handing
each what it reads. The coordinator's own methods are what backends
(``backends/base.py``), the runner and UIs call; those that span parts (a unit
done, failed or interrupted; drains; the end of the run) are written out here.
Only the dispatcher thread moves units; commands set flags and wake it.
``lock`` (re-entrant) is held by the dispatcher while it changes state and,
briefly, by snapshots and commands, so a reader never sees a deque
mid-mutation; reading the workers' reports (IPC) happens outside it, and
``stop()`` takes none (a signal handler calls it). The end of a run has one
owner, the runner's dispatcher thread: ``settle()``, ``freeze_reports()``,
``close_out()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

from ..control import snapshot as S
from ..hardware.devices import DeviceSpec
from ..inputs.record_index import RecordIndex
from ..inputs.units import Unit
from ..inputs.work import Parts
from ..options import DEFAULTS, RunOptions
from ..policy.stealing import NOMINAL_RATE
from .ahead import SentAhead
from .commands import RunControls
from .counts import RunCounts
from .device_book import DeviceBook, InFlight
from .events import EventLog
from .health import DeviceHealth
from .housekeeping import Housekeeping
from .messages import Cut, Report, Reports
from .monitoring import DeviceMonitoring
from .progress import UnitProgress
from .queues import Queues
from .recovery import Recovery
from .splitting import Splitting
from .views import build_detail, build_snapshot, build_summary

SNAPSHOT_LOCK_S = 1.0  # a UI waits this long for the lock, then shows the last snapshot


class Coordinator:
    """Implements :class:`~virnucpro_bridge.control.SnapshotSource` and
    :class:`~virnucpro_bridge.control.RunCommands` over one run."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        units: Sequence[Unit],
        options: RunOptions = DEFAULTS,
        *,
        status: MutableMapping[int, Any] | None = None,
        name: str = "",
        task: str = "",
        out_dir: str = "",
        splittable: bool = False,
        parts: Parts | None = None,
        indexes: Mapping[str, RecordIndex] | None = None,
        unit_overhead_s: float = 0.05,
        nominal_rate: float = NOMINAL_RATE,
        skipped: int = 0,
        notices: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] = lambda: None,
        first_seq: int = 1,
    ) -> None:
        """``options``: --no-weighted, --no-steal, --retries, --stall-timeout, --no-split
        and --split-min act here. ``status``: the dict workers report into.
        ``splittable``: the task can stop a running unit early, so (unless --no-split)
        running units may be cut for idle devices where ``indexes`` (by input path)
        and ``parts`` (the task's rule) say. ``unit_overhead_s`` and
        ``nominal_rate``: the task's cost per unit and speed prior. ``wake``
        interrupts the backend's wait; it must be safe from a signal handler.
        ``first_seq``: the number of this session's first event (a resumed run
        continues its events.jsonl)."""
        self.options, self.clock, self.lock = options, clock, threading.RLock()
        self.name, self.task, self.out_dir, self.notices = name, task, out_dir, tuple(notices)
        split = options.split and splittable
        books = self.books = [DeviceBook(d, d.weight if options.weighted else 1.0) for d in devices]
        self.units = list(units)  # handed to the queues by assign_initial(), then dropped
        self.log = EventLog(clock, self.lock, first_seq)
        self.counts = RunCounts(len(self.units), sum(u.sequences for u in self.units), skipped)
        self.progress = UnitProgress(indexes or {}, parts if split else None)
        self.queues = Queues(books, self.counts, self.log, self.progress, clock, nominal_rate)
        self.controls = RunControls(books, self.log, self.lock, wake, stealing=options.steal, cuts_on_stop=split)
        self.recovery = Recovery(books, self.queues, self.controls, self.log, clock, retries=options.retries)
        # residues per record over the plan: converts a --split-min in records into work
        mean_record = sum(u.residues for u in self.units) / max(1, sum(u.count for u in self.units))
        self.splitting = Splitting(books, self.queues, self.recovery, self.progress, self.controls, self.counts,
                                   self.log, clock, enabled=split, split_min=options.split_min,
                                   unit_overhead_s=unit_overhead_s, mean_record=mean_record)
        self.health = DeviceHealth(books, self.recovery, self.splitting, self.controls, self.counts, self.log,
                                   clock, stall_timeout=options.stall_timeout)
        self.monitoring = DeviceMonitoring(books, status if status is not None else {}, self.progress, self.log,
                                           clock, self.lock, stall_timeout=options.stall_timeout)
        self.ahead = SentAhead(books, self.queues, self.recovery, self.controls, unit_overhead_s=unit_overhead_s)
        self.merge_failed: dict[str, str] = {}  # input rel -> error of its per-file merge
        self.created = clock()
        self.interrupted = False  # a stop left units undone
        self.finished = False
        self.finished_at: float | None = None
        self.exit_code: int | None = None
        self.summary: dict[str, Any] | None = None
        self._last_snapshot: S.RunSnapshot | None = None

    def assign_initial(self) -> None:
        """Greedy largest-first assignment onto the earliest-finishing device."""
        self.queues.assign(self.units)
        self.units = []  # the queues hold them now: a finished unit is freed, not kept

    # -- what the rest of the engine reads ----------------------------------------------
    @property
    def stopping(self) -> bool:
        return self.controls.stopping

    @property
    def stop_now(self) -> bool:
        return self.controls.stop_now

    @property
    def error(self) -> str | None:
        """Why the run was aborted (None: it was not)."""
        return self.controls.error

    @property
    def events(self) -> Sequence[S.RunEvent]:
        return self.log.events

    @property
    def units_total(self) -> int:
        return self.counts.units_total

    @property
    def in_flight(self) -> int:
        return self.queues.in_flight

    def base_rate(self) -> float:
        return self.queues.base_rate()

    def rate(self, book: DeviceBook, scale: float | None = None) -> float:
        return self.queues.rate(book, scale)

    def fastest_first(self) -> list[int]:
        return self.queues.fastest_first()

    def next_attempt(self, unit: Unit) -> int:
        """The attempt ``unit`` will be when it starts (a unit sent ahead is counted then)."""
        return self.queues.attempts.get(unit.uid, 0) + 1

    def work_left(self) -> bool:
        """Units run, or may still run: in flight, held by a worker (sent ahead), or queued."""
        q = self.queues
        return q.in_flight > 0 or q.sent_ahead > 0 or (q.queued > 0 and not self.controls.stopping)

    def can_progress(self) -> bool:
        """False when units are queued but no live device can ever take them."""
        return (self.queues.in_flight > 0 or self.queues.sent_ahead > 0
                or any(b.alive and not b.draining for b in self.books))

    # -- a device's worker (dispatcher thread) --------------------------------------------
    def worker_started(self, index: int, pid: int | None) -> None:
        """Device ``index`` has a new worker process (not set up yet)."""
        self.books[index].pid = pid

    def device_ready(self, index: int, pid: int | None = None) -> None:
        book = self.books[index]
        book.ready = True
        book.ever_ready = True
        book.setup_retries = 0
        if not book.dead:
            book.reason = None  # a restarted worker is up again
        if pid is not None:
            book.pid = pid
        book.last_progress = self.clock()

    def device_named(self, index: int, name: str, weight: float, known: bool) -> None:
        """The worker named its device (a Ray actor finds its own GPU): its name,
        and its capability weight for scheduling (unless --no-weighted)."""
        book = self.books[index]
        book.spec = replace(book.spec, name=name, weight=weight, known=known)
        if self.options.weighted:
            book.weight = weight

    def device_died(self, index: int, reason: str, *, verb: str = "died") -> InFlight | None:
        return self.health.device_died(index, reason, verb=verb)

    def restart_stalled(self, index: int) -> bool:
        return self.health.restart_stalled(index)

    def setup_failed(self, index: int, error: str) -> bool:
        return self.health.setup_failed(index, error)

    # -- units (dispatcher thread) -----------------------------------------------------
    def next_unit(self, index: int, allow_steal: bool = True) -> InFlight | None:
        """The unit ``index`` should run next: its queue head (``ahead`` when it was
        sent ahead: the worker has it), else a steal."""
        book = self.books[index]
        if (self.controls.stopping or book.in_flight is not None or book.withdrawing
                or not (book.ready and book.accepts_work)):
            return None
        ahead = book.sent > 0
        unit = book.pop_head()
        stolen = False
        if unit is None and allow_steal and self.controls.stealing:
            unit = self.queues.steal(book, lambda u: self.recovery.may_run_on(u, index))  # never back where it failed
            stolen = unit is not None
        if unit is None:
            return None
        return self.queues.start(book, unit, stolen, ahead)

    def unit_done(self, index: int, sequences: int, seconds: float, uid: str = "") -> InFlight:
        """``uid``: the unit the worker names (it may be one sent ahead that was not
        started here yet); "" for the unit in flight."""
        book = self.books[index]
        flight = self.ahead.flight_of(book, uid, "a unit")
        self.splitting.forget(index)
        book.in_flight = None
        book.stalled = False  # it answered: whatever held it up is over
        now = self.clock()
        self.queues.attempts.pop(flight.unit.uid, None)  # done for good: nothing per unit stays behind
        self.recovery.unit_done(flight.unit.uid)
        self.splitting.note_handoff(now - flight.started, seconds)
        book.unit_done(flight, sequences, seconds, now)
        self.counts.unit_done(now, sequences, seconds, flight.unit.cost)
        self.health.unit_succeeded(book)
        return flight

    def unit_interrupted(self, index: int, uid: str = "") -> InFlight | None:
        """The unit could not be finished through no fault of its own (its result
        could not be written): back to the head of the queue, no attempt counted."""
        book = self.books[index]
        if uid:
            self.ahead.flight_of(book, uid, "an interrupted unit")
        self.splitting.forget(index)
        flight, book.in_flight = book.in_flight, None
        if flight is not None:
            self.queues.attempts[flight.unit.uid] = flight.attempt - 1
            book.push(flight.unit, front=True)
        return flight

    def unit_failed(self, index: int, error: str, permanent: bool = False,
                    device_fault: bool = False, uid: str = "") -> tuple[InFlight, bool]:
        """Retry the unit elsewhere, or mark it failed. Returns (flight, retried).
        ``device_fault``: the device's fault (a CUDA error), not the unit's: it does
        not count against the unit, and the device's worker is restarted (health.py)."""
        book = self.books[index]
        flight = self.ahead.flight_of(book, uid, "a failure for a unit")
        self.splitting.forget(index)
        book.in_flight = None
        book.stalled = False
        book.busy_s += max(0.0, self.clock() - flight.started)
        book.errors.append(f"{flight.unit.uid}: {error}")
        charged = not device_fault
        retried = self.recovery.retry_or_fail(book, flight, error, permanent, charged=charged)
        if not permanent:  # UnitError is the unit's by definition: it says nothing of the device
            self.health.judge_failure(book, flight.unit, error, device_fault=device_fault, charged=charged)
        return flight, retried

    def find_cut(self, thief: int, reports: Reports | None = None) -> tuple[int, Cut] | None:
        return self.splitting.find_cut(thief, reports)

    def stop_cuts(self, reports: Reports | None = None) -> list[tuple[int, Cut]]:
        return self.splitting.stop_cuts(reports)

    def cut_answered(self, victim: int, uid: str, at: tuple[int, int] | None) -> tuple[int, InFlight] | None:
        return self.splitting.cut_answered(victim, uid, at)

    def send_ahead(self, index: int, budget_s: float, most: int) -> list[Unit]:
        return self.ahead.send_ahead(index, budget_s, most)

    def needs_withdraw(self, index: int) -> bool:
        return self.ahead.needs_withdraw(index)

    def withdraw_all(self, index: int) -> bool:
        return self.ahead.withdraw_all(index)

    def withdrawn(self, index: int, count: int) -> None:
        self.ahead.withdrawn(index, count)

    def worker_gone(self, index: int) -> None:
        self.ahead.worker_gone(index)

    # -- housekeeping (dispatcher thread) -----------------------------------------------
    def housekeeping(self) -> Housekeeping:
        """The per-pass rules for a backend's loop (its timers start now)."""
        return Housekeeping(self.controls, self.health, self.monitoring, self.take_pending_drains, self.options)

    def take_pending_drains(self) -> list[int]:
        """Give back the queues of devices drained since the last call; returns the
        drained devices that are idle and can be stopped now."""
        for index in self.controls.take_drains():
            self.recovery.give_back(self.books[index])
        # A dead or drained device keeps what nobody could take when it went
        # (every other device paused): hand it out once someone can.
        stranded = [b for b in self.books if not b.alive and b.queue]
        if stranded and any(b.accepts_work for b in self.books):
            for book in stranded:
                self.recovery.give_back(book)
        return [b.spec.index for b in self.books
                if b.draining and not b.drained and b.in_flight is None and not b.sent and not b.dead]

    def read_reports(self) -> dict[int, Report]:
        """A copy of the workers' reports (IPC: call outside ``lock``)."""
        return self.monitoring.read_reports(finished=self.finished)

    def freeze_reports(self) -> None:
        self.monitoring.freeze_reports()

    # -- commands (any thread) ----------------------------------------------------------
    def pause(self, index: int) -> str:
        return self.controls.pause(index)

    def resume(self, index: int) -> str:
        return self.controls.resume(index)

    def drain(self, index: int) -> str:
        return self.controls.drain(index)

    def set_stealing(self, enabled: bool) -> str:
        return self.controls.set_stealing(enabled)

    def stop(self, now: bool = False) -> str:
        return self.controls.stop(now)

    def abort(self, message: str, code: int = 3) -> None:
        """The run cannot go on (its output disk failed, or an internal error):
        hand out nothing more; ``settle()`` then exits ``code``."""
        self.controls.abort(message, code)

    def info(self, message: str, level: str = "info") -> None:
        self.log.info(message, level)

    def merge_failure(self, rel: str, message: str) -> None:
        """A per-file merge failed: the run exits 1, unit counts stay as they are."""
        with self.lock:
            self.merge_failed[rel] = message
            self.log.error(message)
            self.log.info(message, "error")

    # -- the end (the runner's dispatcher thread) -----------------------------------------------
    def settle(self) -> int:
        """After the backend stopped: account for what was not done; the exit code.
        3 aborted (abort(); 2 when no device could start), 130 interrupted by a
        stop, 1 failures, else 0."""
        with self.lock:
            self.splitting.cuts.clear()
            for book in self.books:
                book.in_flight = None  # lost to the stop; written results are kept
            unrun = [u for b in self.books for u in b.queue]
            failed, stopping = self.recovery.failed, self.controls.stopping
            if unrun and not stopping:
                for unit in unrun:  # queued, but no device left alive to run them
                    failed[unit.uid] = "no live device left to run it"
                    self.log.error(f"{unit.uid}: no live device left to run it")
            if stopping and (unrun or self.counts.units_done + len(failed) < self.counts.units_total):
                self.interrupted = True
            if self.controls.error is not None:
                return self.controls.abort_code
            if self.interrupted:
                return 130
            return 1 if failed or self.merge_failed else 0

    def close_out(self, exit_code: int) -> dict[str, Any]:
        """The run is over: snapshots show it finished; returns summary.json's contents."""
        with self.lock:
            self.finished_at = self.clock()
            self.finished = True
            self.exit_code = exit_code
            self.summary = build_summary(self)
            return self.summary

    # -- the UI interfaces -------------------------------------------------------------
    def snapshot(self) -> S.RunSnapshot:
        reports = self.read_reports()
        # Never let a UI hang on a dispatcher that holds the lock too long:
        # show the last snapshot instead (the dashboard marks it as old).
        while not self.lock.acquire(timeout=SNAPSHOT_LOCK_S):
            if self._last_snapshot is not None:
                return self._last_snapshot
        try:
            self._last_snapshot = build_snapshot(self, reports)
            return self._last_snapshot
        finally:
            self.lock.release()

    def device_detail(self, index: int) -> S.DeviceDetail:
        if not 0 <= index < len(self.books):
            raise IndexError(index)
        reports = self.read_reports()
        with self.lock:
            return build_detail(self, index, reports)
