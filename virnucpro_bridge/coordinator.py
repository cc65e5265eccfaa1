"""The coordinator: queues, the stealing decisions, controls and snapshots.

It holds no processes. The backend (``pool.py`` for local workers) calls the
scheduling methods from its dispatcher thread; a UI calls ``snapshot()``,
``device_detail()`` and the commands from its own thread::

    UI thread ──commands──▶ Coordinator ◀──next_unit / unit_done── dispatcher
        ▲                     │    ▲                                 thread
        └──── snapshot() ─────┘    └── worker reports (Manager dict) ── workers

Only the dispatcher thread moves units between queues; commands set flags
and leave the moving (drain's give-back) to the dispatcher, woken through
``wake``. ``lock`` (re-entrant) is held by the dispatcher while it changes
state and, briefly, by snapshots and commands, so a reader never sees a deque
mid-mutation. Manager reads (IPC) happen outside it: callers read the reports
first and pass them in. ``stop()`` takes no lock (a signal handler calls it).

The end of a run has one owner, the runner's dispatcher thread, which calls
``settle()`` (what is left, the exit code), ``freeze_reports()`` and
``close_out()`` in that order; ``abort()`` records why a run had to stop.

Because one dispatcher thread owns every queue, a thief never waits on a
victim's queue: the issue's "skip a queue it cannot take without blocking"
holds by construction. A backend with several dispatchers would add a lock
per queue and try-acquire it in ``_steal``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Callable, Iterable, Mapping, MutableMapping, Sequence

from . import snapshot as S
from .assignment import assign
from .commands import RunControls
from .device_book import DeviceBook, InFlight
from .devices import DeviceSpec
from .stealing import VictimView, estimate_rate, fleet_base_rate, steal_candidates
from .throughput import Throughput, is_stalled
from .units import Unit
from .views import build_detail, build_snapshot, build_summary

NOMINAL_RATE = 50_000.0  # cost units (residues)/s of a weight-1 device before any evidence
STEALS_KEPT = 50  # the snapshot's "last 50 steal events"
MAX_WORKER_DEATHS = 2  # a unit that took down two workers would take down every one
MAX_RESTARTS = 3  # a device whose worker stalls this often is given up on
READINGS_LOST_S = 10.0  # no heartbeat this long from a live worker: say its readings are lost
SNAPSHOT_LOCK_S = 1.0  # a UI waits this long for the lock, then shows the last snapshot
EVENTS_KEPT = 200  # events carried per snapshot; the log widget keeps its own history
ERRORS_KEPT = 100


class Coordinator(RunControls):
    """Implements :class:`~virnucpro_bridge.control.SnapshotSource` and
    :class:`~virnucpro_bridge.control.RunCommands` over one run."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        units: Sequence[Unit],
        *,
        status: MutableMapping | None = None,
        name: str = "",
        task: str = "",
        out_dir: str = "",
        weighted: bool = True,
        stealing: bool = True,
        retries: int = 2,
        stall_timeout: float = 300.0,
        skipped: int = 0,
        notices: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        """``wake`` interrupts the backend's wait when a command needs the
        dispatcher (drain, stop); it must be safe from a signal handler."""
        self.books = [DeviceBook(d, d.weight if weighted else 1.0) for d in devices]
        self.units = list(units)
        self.status = status if status is not None else {}  # worker reports (a Manager dict)
        self.name, self.task, self.out_dir = name, task, out_dir
        self.stealing = stealing
        self.retries = retries
        self.stall_timeout = stall_timeout
        self.units_skipped = skipped
        self.notices = tuple(notices)
        self.clock = clock
        self.wake = wake
        self.attempts: dict[str, int] = {}
        self.failed: dict[str, str] = {}  # uid -> error
        self.merge_failed: dict[str, str] = {}  # input rel -> error of its per-file merge
        self.deaths: dict[str, int] = {}  # uid -> workers that died while running it
        self.units_done = 0
        self.sequences_done = 0
        self.cost_done = 0.0
        self.steals: deque[S.StealEvent] = deque(maxlen=STEALS_KEPT)
        self.steals_total = 0
        self.events: deque[S.RunEvent] = deque(maxlen=EVENTS_KEPT)
        self.errors: deque[str] = deque(maxlen=ERRORS_KEPT)
        self._seq = itertools.count(1)
        self.throughput = Throughput()
        self.created = clock()
        self.first_dispatch: float | None = None
        self.last_completion: float | None = None
        self.stopping = False
        self.stop_now = False
        self.interrupted = False  # a stop left units undone
        self.finished = False
        self.finished_at: float | None = None
        self.exit_code: int | None = None
        self.summary: dict | None = None
        self.error: str | None = None  # why the run was aborted (abort())
        self._pending_drains: set[int] = set()
        self._readings_lost = False
        self._frozen_reports: dict | None = None
        self._last_snapshot: S.RunSnapshot | None = None
        self.lock = threading.RLock()

    # -- setup ---------------------------------------------------------------
    def assign_initial(self) -> None:
        """Greedy largest-first assignment onto the earliest-finishing device."""
        plan = assign([u.cost for u in self.units], [b.weight for b in self.books])
        for book, indices in zip(self.books, plan):
            for i in indices:
                book.push(self.units[i])

    # -- rates and estimates -----------------------------------------------------
    def base_rate(self) -> float:
        """Cost units/s per unit of weight, learned run-wide from finished units."""
        return fleet_base_rate(((b.weight, b.cost_done, b.busy_s) for b in self.books), NOMINAL_RATE)

    def rate(self, book: DeviceBook, scale: float | None = None) -> float:
        prior = book.weight * (scale if scale is not None else self.base_rate())
        return estimate_rate(prior, book.cost_done, book.busy_s)

    def current_remaining(self, book: DeviceBook, rate: float, now: float) -> float:
        """Estimated cost left of the unit ``book`` is running (0 when idle)."""
        if book.in_flight is None:
            return 0.0
        return max(0.0, book.in_flight.unit.cost - (now - book.in_flight.started) * rate)

    def remaining_seconds(self, now: float) -> float | None:
        """Estimated seconds until the work left is done by the devices taking work."""
        scale = self.base_rate()
        rates = [self.rate(b, scale) for b in self.books if b.accepts_work]
        if not rates:
            return None
        left = sum(b.queued_cost for b in self.books)
        for b in self.books:
            if b.in_flight is not None:
                left += self.current_remaining(b, self.rate(b, scale), now)
        return left / sum(rates)

    def _victim_view(self, book: DeviceBook, scale: float, now: float) -> VictimView:
        # A paused, stalled or still-loading victim starts nothing: rate 0
        # tells the policy its whole queue is free to take.
        stopped = book.paused or book.stalled or not book.ready
        rate = 0.0 if stopped else self.rate(book, scale)
        current = self.current_remaining(book, rate, now)
        tail = book.queue[-1].cost if book.queue else 0.0
        return VictimView(book.spec.index, rate, current, book.queued_cost, len(book.queue), tail)

    # -- dispatch (dispatcher thread) --------------------------------------------
    def device_ready(self, index: int, pid: int | None = None) -> None:
        book = self.books[index]
        book.ready = True
        if pid is not None:
            book.pid = pid
        book.last_progress = self.clock()

    def next_unit(self, index: int, allow_steal: bool = True) -> InFlight | None:
        """The unit ``index`` should run next: its queue head, else a steal."""
        book = self.books[index]
        if self.stopping or book.in_flight is not None or not (book.ready and book.accepts_work):
            return None
        unit = book.pop_head()
        stolen = False
        if unit is None and allow_steal and self.stealing:
            unit = self._steal(book)
            stolen = unit is not None
        if unit is None:
            return None
        now = self.clock()
        if self.first_dispatch is None:
            self.first_dispatch = now
        attempt = self.attempts.get(unit.uid, 0) + 1
        self.attempts[unit.uid] = attempt
        book.in_flight = InFlight(unit, attempt, now, stolen)
        book.last_progress = now
        return book.in_flight

    def _steal(self, thief: DeviceBook) -> Unit | None:
        now = self.clock()
        scale = self.base_rate()
        views = [self._victim_view(b, scale, now) for b in self.books
                 if b is not thief and b.alive and b.queue]
        for victim_index in steal_candidates(thief.spec.index, self.rate(thief, scale), views):
            victim = self.books[victim_index]
            unit = victim.pop_tail()
            if unit is None:
                continue
            victim.stolen_out += 1
            thief.stolen_in += 1
            self._record_steal(thief, victim, unit, now)
            return unit
        return None

    def _record_steal(self, thief: DeviceBook, victim: DeviceBook, unit: Unit, now: float) -> None:
        seq = next(self._seq)
        steal = S.StealEvent(seq, now, thief.spec.index, victim.spec.index, unit.uid, unit.sequences)
        self.steals.append(steal)
        self.steals_total += 1
        message = (f"{thief.spec.label} stole {unit.uid} ({unit.sequences:,} seqs) "
                   f"from {victim.spec.label}")
        self.events.append(S.RunEvent(seq, now, S.EV_STEAL, "info", message, thief.spec.index, steal,
                                      unit=unit.uid))

    def unit_done(self, index: int, sequences: int, seconds: float) -> InFlight:
        book = self.books[index]
        flight = book.in_flight
        if flight is None:
            raise RuntimeError(f"{book.spec.label} reported a unit it was not given")
        book.in_flight = None
        book.stalled = False  # it answered: whatever held it up is over
        book.cost_done += flight.unit.cost
        self.cost_done += flight.unit.cost
        self._count_done(book, flight, sequences, seconds)
        return flight

    def unit_interrupted(self, index: int) -> InFlight | None:
        """The unit could not be finished through no fault of its own (its result
        could not be written): back to the head of the queue, no attempt counted."""
        book = self.books[index]
        flight, book.in_flight = book.in_flight, None
        if flight is not None:
            self.attempts[flight.unit.uid] = flight.attempt - 1
            book.push(flight.unit, front=True)
        return flight

    def unit_failed(self, index: int, error: str, permanent: bool = False) -> tuple[InFlight, bool]:
        """Retry the unit elsewhere, or mark it failed. Returns (flight, retried)."""
        book = self.books[index]
        flight = book.in_flight
        if flight is None:
            raise RuntimeError(f"{book.spec.label} reported a failure for a unit it was not given")
        book.in_flight = None
        book.stalled = False
        book.busy_s += max(0.0, self.clock() - flight.started)
        book.errors.append(f"{flight.unit.uid}: {error}")
        return flight, self._retry_or_fail(book, flight, error, permanent)

    def _retry_or_fail(self, book: DeviceBook, flight: InFlight, error: str, permanent: bool,
                       death: bool = False) -> bool:
        now = self.clock()
        uid = flight.unit.uid
        first_line = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        if death:  # the worker died under it: not the unit's fault, unless it keeps happening
            retry = self.deaths.get(uid, 0) < MAX_WORKER_DEATHS
        else:
            retry = not permanent and flight.attempt <= self.retries
        if retry and not self.stop_now:
            target = self._place(flight.unit, avoid=book)
            where = f"on {target.spec.label}" if target is not None else "once a device is free"
            if target is None and any(b.alive for b in self.books):
                # Every live device is paused: keep the unit here (a dead or
                # drained device's queue is handed out again on resume).
                book.push(flight.unit, front=True)
                target = book
            if target is not None:
                self._event(S.EV_RETRY, "warning",
                            f"{uid} failed on {book.spec.label} (attempt {flight.attempt}): "
                            f"{first_line}; retrying {where}", book.spec.index, now, unit=uid)
                return True
        self.failed[uid] = first_line
        book.units_failed += 1
        book.records.append(S.UnitRecord(uid, flight.unit.sequences, now - flight.started,
                                         flight.stolen, False, now, first_line))
        self.errors.append(f"{uid}: {first_line}")
        self._event(S.EV_FAILURE, "error", f"{uid} failed on {book.spec.label}: {first_line}",
                    book.spec.index, now, unit=uid)
        return False

    def _place(self, unit: Unit, avoid: DeviceBook | None = None, front: bool = True) -> DeviceBook | None:
        """Queue ``unit`` on the live device that would finish it earliest.
        ``avoid`` is used only when no other device can take it."""
        now, scale = self.clock(), self.base_rate()
        candidates = [b for b in self.books if b.accepts_work and b is not avoid]
        if not candidates and avoid is not None and avoid.accepts_work:
            candidates = [avoid]
        if not candidates:
            return None

        def finish(b: DeviceBook) -> float:
            rate = self.rate(b, scale)
            return (self.current_remaining(b, rate, now) + b.queued_cost + unit.cost) / rate

        target = min(candidates, key=lambda b: (finish(b), b.spec.index))
        target.push(unit, front=front)
        return target

    def device_died(self, index: int, reason: str) -> InFlight | None:
        """A worker process is gone: requeue its unit and hand its queue out."""
        book = self.books[index]
        if book.dead:
            return None
        book.dead = True
        book.ready = False
        now = self.clock()
        book.errors.append(reason)
        self.errors.append(f"{book.spec.label}: {reason}")
        self._event(S.EV_DEATH, "error", f"{book.spec.label} died: {reason}", index, now)
        return self._lose_worker(book, reason, now)

    def restart_stalled(self, index: int) -> bool:
        """``--stall-action restart``: the backend kills the stalled worker and
        starts a fresh one. Its unit is requeued elsewhere (a worker death) and
        its queue handed out; the device takes work again once set up. Returns
        False when it stalled too often: then it is dead, not restarted."""
        book = self.books[index]
        if book.dead:
            return False
        if book.restarts >= MAX_RESTARTS:
            self.device_died(index, f"stalled {book.restarts + 1} times; not restarted again")
            return False
        book.restarts += 1
        now = self.clock()
        unit = book.in_flight.unit.uid if book.in_flight else None
        reason = f"no progress for {self.stall_timeout:g} s"
        book.errors.append(f"restarted: {reason}")
        self._event(S.EV_DEATH, "warning", f"{book.spec.label} restarted: {reason}"
                    + (f" on {unit}" if unit else ""), index, now, unit=unit)
        book.ready = False
        book.stalled = False
        book.pid = None
        self._lose_worker(book, f"worker restarted: {reason}", now)
        return True

    def _lose_worker(self, book: DeviceBook, reason: str, now: float) -> InFlight | None:
        flight = book.in_flight
        book.in_flight = None
        if flight is not None:
            book.busy_s += max(0.0, now - flight.started)
            self.deaths[flight.unit.uid] = self.deaths.get(flight.unit.uid, 0) + 1
            self._retry_or_fail(book, flight, reason, permanent=False, death=True)
        self._give_back(book)
        return flight

    def _give_back(self, book: DeviceBook) -> None:
        """Redistribute a dead or draining device's queue, largest first."""
        units = book.take_all()
        for unit in sorted(units, key=lambda u: -u.cost):
            if self._place(unit, avoid=book, front=False) is None:
                book.push(unit)  # nobody left to take it: it stays, and fails at the end

    # -- completion, stalls, history ------------------------------------------------
    def _count_done(self, book: DeviceBook, flight: InFlight, sequences: int, duration: float) -> None:
        now = self.clock()
        book.units_done += 1
        book.sequences_done += sequences
        book.busy_s += duration
        book.last_progress = now
        book.throughput.add(now, sequences, duration)
        book.records.append(S.UnitRecord(flight.unit.uid, sequences, duration, flight.stolen, True, now))
        self.units_done += 1
        self.sequences_done += sequences
        self.throughput.add(now, sequences, duration)
        self.last_completion = now

    def detect_stalled_workers(self, stall_threshold: float | None = None,
                               reports: Mapping | None = None) -> list[int]:
        """Flag devices holding a unit with no progress for ``stall_threshold`` s;
        returns the devices newly flagged. ``reports``: a copy of the workers'
        reports, read by the caller outside ``lock`` (read here when omitted)."""
        threshold = self.stall_timeout if stall_threshold is None else stall_threshold
        now = self.clock()
        reports = self.read_reports() if reports is None else reports
        newly = []
        for book in self.books:
            last = self._last_activity(book, reports.get(book.spec.index))
            stalled = book.alive and is_stalled(now, last, book.in_flight is not None, threshold)
            if stalled and not book.stalled:
                newly.append(book.spec.index)
                unit = book.in_flight.unit.uid if book.in_flight else "?"
                self._event(S.EV_STALL, "warning",
                            f"{book.spec.label} stalled: no progress on {unit} for {threshold:g} s",
                            book.spec.index, now)
            book.stalled = stalled
        return newly

    def check_readings(self, reports: Mapping) -> None:
        """Monitoring faults are worth a warning, never a stop: say once per
        device when its live readings fail or go silent (the Manager's own
        death is reported by ``read_reports``)."""
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
                self._event(S.EV_WARNING, "warning",
                            f"live readings lost on {book.spec.label}: {problem}", book.spec.index, now)
            elif not problem:
                book.readings_warned = False

    def _last_activity(self, book: DeviceBook, report: Mapping | None) -> float | None:
        times = [t for t in (book.last_progress, (report or {}).get("progress_time")) if t]
        return max(times) if times else None

    def sample_history(self, reports: Mapping | None = None) -> None:
        """Append one point per device to the whole-run histories (dispatcher tick)."""
        now = self.clock()
        reports = self.read_reports() if reports is None else reports
        for book in self.books:
            book.throughput_history.add(now, book.throughput.rate(now) or 0.0)
            report = reports.get(book.spec.index) or {}
            book.utilization_history.add(now, report.get("utilization"))

    def read_reports(self) -> dict:
        """A copy of the workers' reports (Manager IPC: call outside ``lock``).
        After ``freeze_reports()`` the last copy is returned, untouched."""
        if self._frozen_reports is not None:
            return self._frozen_reports
        try:
            return dict(self.status.copy()) if hasattr(self.status, "copy") else dict(self.status)
        except Exception as exc:  # noqa: BLE001 - any proxy failure means the same: no readings
            if not self._readings_lost and not self.finished:
                self._readings_lost = True
                self._event(S.EV_WARNING, "warning",
                            f"live readings lost: the Manager process is gone ({type(exc).__name__}); "
                            "utilization and memory stop updating, the run goes on")
            return {}

    def freeze_reports(self) -> None:
        """Keep the last readings for the final snapshots (the Manager is about to go)."""
        self._frozen_reports = self.read_reports()

    def _event(self, kind: str, level: str, message: str, device: int | None = None,
               now: float | None = None, *, unit: str | None = None, action: str | None = None,
               locked: bool = True) -> None:
        when = self.clock() if now is None else now
        if not locked:  # stop() from a signal handler: deque.append is atomic
            self.events.append(S.RunEvent(next(self._seq), when, kind, level, message, device,
                                          unit=unit, action=action))
            return
        with self.lock:
            self.events.append(S.RunEvent(next(self._seq), when, kind, level, message, device,
                                          unit=unit, action=action))

    def info(self, message: str, level: str = "info") -> None:
        kind = {"info": S.EV_INFO, "warning": S.EV_WARNING}.get(level, S.EV_FAILURE)
        self._event(kind, level, message)

    def merge_failure(self, rel: str, message: str) -> None:
        """A per-file merge failed: the run exits 1, unit counts stay as they are."""
        with self.lock:
            self.merge_failed[rel] = message
            self.errors.append(message)
            self.info(message, "error")

    # -- run state -------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return sum(1 for b in self.books if b.in_flight is not None)

    @property
    def queued(self) -> int:
        return sum(len(b.queue) for b in self.books)

    def work_left(self) -> bool:
        return self.in_flight > 0 or (self.queued > 0 and not self.stopping)

    def can_progress(self) -> bool:
        """False when units are queued but no live device can ever take them."""
        return self.in_flight > 0 or any(b.alive and not b.draining for b in self.books)

    def abort(self, message: str) -> None:
        """The run cannot go on (its output disk failed, or an internal error):
        hand out nothing more; ``settle()`` then exits 3."""
        with self.lock:
            if self.error is None:
                self.error = message
                self.errors.append(message)
                self._event(S.EV_ERROR, "error", f"run aborted: {message}")
            self.stopping = True

    def settle(self) -> int:
        """After the backend stopped: account for what was not done; the exit code.
        3 aborted (abort()), 130 interrupted by a stop, 1 failures, else 0."""
        with self.lock:
            for book in self.books:
                book.in_flight = None  # lost to the stop; written results are kept
            unrun = [u for b in self.books for u in b.queue]
            if unrun and not self.stopping:
                for unit in unrun:  # queued, but no device left alive to run them
                    self.failed[unit.uid] = "no live device left to run it"
                    self.errors.append(f"{unit.uid}: no live device left to run it")
            if self.stopping and (unrun or self.units_done + len(self.failed) < len(self.units)):
                self.interrupted = True
            if self.error is not None:
                return 3
            if self.interrupted:
                return 130
            return 1 if self.failed or self.merge_failed else 0

    def close_out(self, exit_code: int) -> dict:
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
