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
victim's queue: it never has to skip a queue it cannot take without
blocking. A backend with several dispatchers would add a lock
per queue and try-acquire it in ``_steal``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence

from ..control import snapshot as S
from ..hardware.devices import DeviceSpec
from ..inputs.record_index import RecordIndex
from ..inputs.units import Unit
from ..inputs.work import Parts
from ..policy.assignment import assign
from ..policy.sizes import Size, as_size
from ..policy.stealing import (
    VictimView,
    estimate_rate,
    fleet_base_rate,
    steal_candidates,
)
from ..policy.throughput import Throughput
from .ahead import SentAhead
from .commands import RunControls
from .device_book import DeviceBook, InFlight
from .health import DeviceHealth
from .monitoring import DeviceMonitoring
from .recovery import Recovery
from .splitting import PendingCut, Splitting
from .views import build_detail, build_snapshot, build_summary

NOMINAL_RATE = 50_000.0  # cost units (residues)/s of a weight-1 device before any evidence (Task.nominal_rate)
STEALS_KEPT = 50  # the snapshot's "last 50 steal events"
SNAPSHOT_LOCK_S = 1.0  # a UI waits this long for the lock, then shows the last snapshot
EVENTS_KEPT = 200  # events carried per snapshot; the log widget keeps its own history
ERRORS_KEPT = 100


class Coordinator(RunControls, DeviceMonitoring, DeviceHealth, Recovery, Splitting, SentAhead):
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
        splitting: bool = False,
        split_min: Size | int | str = "auto",
        parts: Parts | None = None,
        indexes: Mapping[str, RecordIndex] | None = None,
        unit_overhead_s: float = 0.05,
        nominal_rate: float = NOMINAL_RATE,
        retries: int = 2,
        stall_timeout: float = 300.0,
        skipped: int = 0,
        notices: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] = lambda: None,
        first_seq: int = 1,
    ) -> None:
        """``wake`` interrupts the backend's wait when a command needs the
        dispatcher (drain, stop); it must be safe from a signal handler.
        ``splitting``: running units may be cut for idle devices (the task is
        splittable and --no-split was not given); ``indexes`` (by input path) and
        ``parts`` (the task's rule) say where to cut; no piece is cut below
        ``split_min`` (a Size; "auto": 100 × the fixed cost of a unit, which is
        ``unit_overhead_s`` plus the hand-off measured here). ``nominal_rate``:
        residues/s of a weight-1 device before any unit finished. ``first_seq``: the
        number of this session's first event (a resumed run continues its events.jsonl)."""
        self.books = [DeviceBook(d, d.weight if weighted else 1.0) for d in devices]
        self.units = list(units)  # handed to the queues by assign_initial(), then dropped
        self.units_total = len(self.units)  # planned, plus the tails of cuts
        self.status = status if status is not None else {}  # worker reports (a Manager dict)
        self.name, self.task, self.out_dir = name, task, out_dir
        self.stealing = stealing
        self.splitting = splitting
        self.split_min = as_size(split_min)
        self.parts = parts
        self.task_overhead_s = unit_overhead_s
        self.handoff_s = 0.0  # measured per unit: dispatch to Done, less the task's own time
        self.nominal_rate = nominal_rate
        self.indexes = dict(indexes or {})
        self.recent_reports: Mapping = {}  # the workers' last reports (progress), from the last tick
        self.cuts: dict[int, PendingCut] = {}  # by victim: Cut sent, no answer yet
        self.splits_total = 0
        self.sequences_total = sum(u.sequences for u in self.units)
        # residues per record over the plan: converts a --split-min in records into work
        self.mean_record = sum(u.residues for u in self.units) / max(1, sum(u.count for u in self.units))
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
        self.failed_on: dict[str, set[int]] = {}  # uid -> devices it failed or died on (never again)
        self.charged: dict[str, int] = {}  # uid -> failures counted against its --retries
        self.failed_at: dict[str, tuple[int, bool]] = {}  # failed uid -> (device, for good: no refund)
        self._restarts_pending: set[int] = set()  # devices whose worker the backend must replace
        self._stops_pending: set[int] = set()  # retired devices whose worker the backend must stop
        self.abort_code = 3
        self.units_done = 0
        self.sequences_done = 0
        self.cost_done = 0.0
        self.steals: deque[S.StealEvent] = deque(maxlen=STEALS_KEPT)
        self.steals_total = 0
        self.events: deque[S.RunEvent] = deque(maxlen=EVENTS_KEPT)
        self.errors: deque[str] = deque(maxlen=ERRORS_KEPT)
        self._seq = itertools.count(first_seq)
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
        self._cut_reader: int | None = None  # a thread interrupted while reading reports
        self._last_snapshot: S.RunSnapshot | None = None
        self.lock = threading.RLock()

    # -- setup ---------------------------------------------------------------
    def assign_initial(self) -> None:
        """Greedy largest-first assignment onto the earliest-finishing device."""
        plan = assign([u.cost for u in self.units], [b.weight for b in self.books])
        for book, indices in zip(self.books, plan, strict=True):
            for i in indices:
                book.push(self.units[i])
        self.units = []  # the queues hold them now: a finished unit is freed, not kept

    # -- rates and estimates -----------------------------------------------------
    def base_rate(self) -> float:
        """Cost units/s per unit of weight, learned run-wide from finished units."""
        return fleet_base_rate(((b.weight, b.cost_done, b.busy_s) for b in self.books), self.nominal_rate)

    def rate(self, book: DeviceBook, scale: float | None = None) -> float:
        prior = book.weight * (scale if scale is not None else self.base_rate())
        return estimate_rate(prior, book.cost_done, book.busy_s)

    def fastest_first(self) -> list[int]:
        """Device indices, fastest (estimated) first: the order idle devices look for work in."""
        scale = self.base_rate()
        return sorted(range(len(self.books)), key=lambda i: -self.rate(self.books[i], scale))

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
        report = self.recent_reports.get(book.spec.index)
        if rate > 0 and book.in_flight is not None and report:
            # Its progress on this very unit says better when it will be free than its
            # average speed does (this input may be slower than the ones before it):
            # what is left, in cost at ``rate``, so that current / rate is the time left.
            work = self.work(book.in_flight.unit)
            _, done, unit_rate = self._progress(book, work, rate, now, report)
            if unit_rate > 0:
                left = work.cost(book.in_flight.unit.begin, book.in_flight.unit.stop) - done
                current = max(0.0, left) * rate / unit_rate
        tail = book.queue[-1].cost if book.queue else 0.0
        return VictimView(book.spec.index, rate, current, book.queued_cost, len(book.queue), tail)

    # -- dispatch (dispatcher thread) --------------------------------------------
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

    def next_unit(self, index: int, allow_steal: bool = True) -> InFlight | None:
        """The unit ``index`` should run next: its queue head (``ahead`` when it was
        sent ahead: the worker has it), else a steal."""
        book = self.books[index]
        if (self.stopping or book.in_flight is not None or book.withdrawing
                or not (book.ready and book.accepts_work)):
            return None
        ahead = book.sent > 0
        unit = book.pop_head()
        stolen = False
        if unit is None and allow_steal and self.stealing:
            unit = self._steal(book)
            stolen = unit is not None
        if unit is None:
            return None
        return self._start_flight(book, unit, stolen, ahead)

    def _start_flight(self, book: DeviceBook, unit: Unit, stolen: bool, ahead: bool) -> InFlight:
        now = self.clock()
        if self.first_dispatch is None:
            self.first_dispatch = now
        attempt = self.attempts.get(unit.uid, 0) + 1
        self.attempts[unit.uid] = attempt
        book.in_flight = InFlight(unit, attempt, now, stolen, ahead=ahead)
        book.last_progress = now
        return book.in_flight

    def _steal(self, thief: DeviceBook) -> Unit | None:
        now = self.clock()
        scale = self.base_rate()
        views = [self._victim_view(b, scale, now) for b in self.books
                 if b is not thief and b.alive and b.queue]
        me = thief.spec.index
        for victim_index in steal_candidates(me, self.rate(thief, scale), views):
            victim = self.books[victim_index]
            unit = victim.pop_tail(lambda u: me not in self.failed_on.get(u.uid, ()))  # never back where it failed
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

    def unit_done(self, index: int, sequences: int, seconds: float, uid: str = "") -> InFlight:
        """``uid``: the unit the worker names (it may be one sent ahead that was not
        started here yet); "" for the unit in flight."""
        book = self.books[index]
        flight = self.flight_of(book, uid, "a unit")
        self.forget_cuts(index)
        book.in_flight = None
        book.stalled = False  # it answered: whatever held it up is over
        book.cost_done += flight.unit.cost
        self.cost_done += flight.unit.cost
        self.attempts.pop(flight.unit.uid, None)  # done for good: nothing per unit stays behind
        self.deaths.pop(flight.unit.uid, None)
        self.note_handoff(self.clock() - flight.started, seconds)
        self._count_done(book, flight, sequences, seconds)
        self._unit_succeeded(book)
        return flight

    def unit_interrupted(self, index: int, uid: str = "") -> InFlight | None:
        """The unit could not be finished through no fault of its own (its result
        could not be written): back to the head of the queue, no attempt counted."""
        book = self.books[index]
        if uid:
            self.flight_of(book, uid, "an interrupted unit")
        self.forget_cuts(index)
        flight, book.in_flight = book.in_flight, None
        if flight is not None:
            self.attempts[flight.unit.uid] = flight.attempt - 1
            book.push(flight.unit, front=True)
        return flight

    def unit_failed(self, index: int, error: str, permanent: bool = False,
                    device_fault: bool = False, uid: str = "") -> tuple[InFlight, bool]:
        """Retry the unit elsewhere, or mark it failed. Returns (flight, retried).
        ``device_fault``: the device's fault (a CUDA error), not the unit's: it does
        not count against the unit, and the device's worker is restarted (health.py)."""
        book = self.books[index]
        flight = self.flight_of(book, uid, "a failure for a unit")
        self.forget_cuts(index)
        book.in_flight = None
        book.stalled = False
        book.busy_s += max(0.0, self.clock() - flight.started)
        book.errors.append(f"{flight.unit.uid}: {error}")
        charged = not device_fault
        retried = self._retry_or_fail(book, flight, error, permanent, charged=charged)
        if not permanent:  # UnitError is the unit's by definition: it says nothing of the device
            self._judge_failure(book, flight.unit, error, device_fault=device_fault, charged=charged)
        return flight, retried

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
        """Units run, or may still run: in flight, held by a worker (sent ahead), or queued."""
        return self.in_flight > 0 or self.sent_ahead > 0 or (self.queued > 0 and not self.stopping)

    def can_progress(self) -> bool:
        """False when units are queued but no live device can ever take them."""
        return (self.in_flight > 0 or self.sent_ahead > 0
                or any(b.alive and not b.draining for b in self.books))

    def abort(self, message: str, code: int = 3) -> None:
        """The run cannot go on (its output disk failed, or an internal error):
        hand out nothing more; ``settle()`` then exits ``code`` (3; 2 when no
        device could start)."""
        with self.lock:
            if self.error is None:
                self.error = message
                self.abort_code = code
                self.errors.append(message)
                self._event(S.EV_ERROR, "error", f"run aborted: {message}")
            self.stopping = True

    def settle(self) -> int:
        """After the backend stopped: account for what was not done; the exit code.
        3 aborted (abort(); 2 when no device could start), 130 interrupted by a
        stop, 1 failures, else 0."""
        with self.lock:
            self.cuts.clear()
            for book in self.books:
                book.in_flight = None  # lost to the stop; written results are kept
            unrun = [u for b in self.books for u in b.queue]
            if unrun and not self.stopping:
                for unit in unrun:  # queued, but no device left alive to run them
                    self.failed[unit.uid] = "no live device left to run it"
                    self.errors.append(f"{unit.uid}: no live device left to run it")
            if self.stopping and (unrun or self.units_done + len(self.failed) < self.units_total):
                self.interrupted = True
            if self.error is not None:
                return self.abort_code
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
