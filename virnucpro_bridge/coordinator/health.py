"""Device health, apart from unit health: deaths, restarts and retirements.

A unit that fails says something either about the unit or about the device
it ran on; one always-failing GPU (out of memory on a smaller card, "no
kernel image", a sticky CUDA error) must not fail every unit it steals:

- A **device fault** (the worker classifies the exception: a CUDA error, out
  of device memory; ``hardware/faults.py``) never counts against the unit.
  The worker is restarted: the backend waits until the device's memory is
  released (bounded, NVML) before the new worker sets up.
- **Failures in a row** on one device while another device is not failing
  (its last unit succeeded, or it has none yet) point at the device: after
  ``RESTART_AFTER`` its worker is restarted, after ``RETIRE_AFTER`` it is
  retired (dead, with the reason). Either way the failures of that streak are
  refunded to their units (``Recovery.refund``). When every device fails, it
  is the task or the inputs, not a device: nothing is restarted or retired.
- A device fault ``RETIRE_AFTER`` times in a row retires the device whatever
  the others do: a restart did not help.
- A stalled worker (--stall-action restart) is replaced ``MAX_RESTARTS`` times,
  then the device is dead. A restarted worker whose setup fails is given one
  more try (``SETUP_RETRIES``); a device whose setup fails otherwise is dead.
- When every device is dead before any finished setup, the run stops at
  once with one line and exit 2 (say, the models do not fit on any GPU),
  instead of failing unit after unit.

The backend carries these out: ``take_restarts()`` and ``take_stops()`` are
read by each housekeeping pass. Called under the coordinator's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..control import snapshot as S
from ..inputs.units import Unit
from .commands import RunControls
from .counts import RunCounts
from .device_book import DeviceBook, InFlight
from .events import EventLog
from .recovery import Recovery
from .splitting import Splitting

RESTART_AFTER = 2  # ordinary failures in a row before a fresh worker is tried (a leak, a bad state)
RETIRE_AFTER = 3  # failures in a row (one after a restart) before the device is given up on
MAX_RESTARTS = 3  # a device whose worker stalls this often is given up on
SETUP_RETRIES = 1  # a restarted worker's setup may fail once (memory still held, a slow reset)
SETUP_EXIT_CODE = 2  # no device could start: a usage or set-up problem, like a missing model


class DeviceHealth:
    def __init__(self, books: Sequence[DeviceBook], recovery: Recovery, splitting: Splitting,
                 controls: RunControls, counts: RunCounts, log: EventLog, clock: Callable[[], float], *,
                 stall_timeout: float) -> None:
        """``stall_timeout``: --stall-timeout, for the reason a stalled worker is restarted."""
        self.books, self.recovery, self.splitting, self.controls = books, recovery, splitting, controls
        self.counts, self.log, self.clock = counts, log, clock
        self.stall_timeout = stall_timeout
        self._restarts_pending: set[int] = set()  # devices whose worker the backend must replace
        self._stops_pending: set[int] = set()  # retired devices whose worker the backend must stop

    # -- what a unit's end says about its device ----------------------------------------
    def judge_failure(self, book: DeviceBook, unit: Unit, error: str, *, device_fault: bool,
                      charged: bool) -> None:
        """After a unit failed on ``book`` (and was requeued or failed): restart
        or retire the device when the failure, or its streak, says it is the device."""
        if book.dead:
            return
        book.streak.append((unit, charged))
        line = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        n = len(book.streak)
        if self.controls.stopping:
            return  # no new work: a fresh worker would load its models for nothing
        if n >= RETIRE_AFTER and (device_fault or self._healthy_elsewhere(book)):
            self.retire(book.spec.index, f"{n} units in a row failed on it (last: {line})")
        elif device_fault:
            self._restart(book, f"device error: {line}")
        elif n == RESTART_AFTER and self._healthy_elsewhere(book):
            self._restart(book, f"{n} units in a row failed on it (last: {line})")

    def _healthy_elsewhere(self, book: DeviceBook) -> bool:
        """Another live device is not failing (its last unit succeeded, or it has
        not run one yet): a streak of failures here is then this device's. When
        every device fails, it is the task or the inputs."""
        return any(b is not book and b.alive and not b.streak for b in self.books)

    def unit_succeeded(self, book: DeviceBook) -> None:
        book.streak.clear()
        for other in self.books:  # an idle device with a streak waits for no further failure
            if (other is not book and other.alive and other.in_flight is None
                    and len(other.streak) >= RETIRE_AFTER):
                self.retire(other.spec.index,
                            f"{len(other.streak)} units in a row failed on it while others succeeded")

    def _restart(self, book: DeviceBook, reason: str) -> None:
        index = book.spec.index
        book.fault_restarts += 1
        self._worker_replaced(book, reason)
        book.errors.append(f"restarted: {reason}")
        self.log.add(S.EV_DEATH, "warning", f"{book.spec.label} restarted: {reason}", index)
        self.splitting.forget(index)
        # Its queue stays: while the new worker sets up, idle devices may steal all
        # of it (a device that is not ready starts nothing), as from one still starting.
        self._restarts_pending.add(index)
        self._refund_streak(book)

    def _worker_replaced(self, book: DeviceBook, reason: str) -> None:
        """A fresh worker is on its way: the device starts nothing until it is set up."""
        book.ready = False
        book.stalled = False
        book.pid = None
        book.reason = f"restarting: {reason}"
        book.setup_retries = SETUP_RETRIES

    def _refund_streak(self, book: DeviceBook) -> None:
        """The streak was judged the device's: none of it counts against its units."""
        streak = book.streak
        book.streak = [(unit, False) for unit, _charged in streak]  # kept: a later retirement counts them
        for unit, charged in streak:
            if charged:
                self.recovery.refund(unit, book)

    def retire(self, index: int, reason: str) -> None:
        """Give up on a device whose failures are its own: dead, its worker
        stopped, and the failures of its streak no longer count against their units."""
        book = self.books[index]
        if book.dead:
            return
        self._refund_streak(book)
        book.streak = []
        self.device_died(index, reason, verb="retired")
        self._stops_pending.add(index)
        self._restarts_pending.discard(index)

    # -- the worker's end --------------------------------------------------------------
    def device_died(self, index: int, reason: str, *, verb: str = "died") -> InFlight | None:
        """A worker process is gone (or its device retired, ``verb``): requeue its
        unit and hand its queue out."""
        book = self.books[index]
        if book.dead:
            return None
        book.dead = True
        book.ready = False
        book.reason = f"{verb}: {reason}"
        now = self.clock()
        book.errors.append(book.reason)
        self.log.error(f"{book.spec.label}: {reason}")
        self.log.add(S.EV_DEATH, "error", f"{book.spec.label} {verb}: {reason}", index, now)
        self.splitting.forget(index)  # a confirmed cut already gave its tail away
        flight = self.recovery.lose_worker(book, reason, now)
        self._stop_if_nothing_started()
        return flight

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
        self.log.add(S.EV_DEATH, "warning", f"{book.spec.label} restarted: {reason}"
                     + (f" on {unit}" if unit else ""), index, now, unit=unit)
        self._worker_replaced(book, reason)
        self.splitting.forget(index)
        self.recovery.lose_worker(book, f"worker restarted: {reason}", now)
        return True

    def setup_failed(self, index: int, error: str) -> bool:
        """A worker's setup failed. True: set it up once more (a restarted worker,
        whose memory may not have been released yet); False: the device is dead."""
        book = self.books[index]
        if book.dead:
            return False
        if book.setup_retries > 0:
            book.setup_retries -= 1
            book.errors.append(f"setup failed after a restart: {error}")
            self.log.add(S.EV_DEATH, "warning",
                         f"{book.spec.label} setup failed after a restart: {error}; trying once more", index)
            self._restarts_pending.add(index)
            return True
        self.device_died(index, f"setup failed: {error}")
        return False

    def _stop_if_nothing_started(self) -> None:
        """Every device is dead and none ever finished setup: nothing can run,
        so stop now with one line (exit 2) rather than fail every unit."""
        if self.controls.error is not None or not self.counts.units_total or not all(b.dead for b in self.books):
            return
        if any(b.ever_ready for b in self.books):
            return
        reasons = [(b.reason or "died").split(": ", 1)[-1] for b in self.books]
        if len(set(reasons)) == 1 and reasons[0].startswith("setup failed: "):
            line = f"setup failed on every device: {reasons[0].removeprefix('setup failed: ')}"
        elif len(set(reasons)) == 1:
            line = f"every device failed to start: {reasons[0]}"
        else:
            line = (f"no device could start: {self.books[0].spec.label} {reasons[0]} "
                    f"(and {len(self.books) - 1} more; see errors.log)")
        self.controls.abort(line, code=SETUP_EXIT_CODE)

    # -- the backend's half ------------------------------------------------------------
    def take_restarts(self) -> list[int]:
        """Devices whose worker the backend must replace (after its memory is freed)."""
        pending = sorted(i for i in self._restarts_pending if not self.books[i].dead)
        self._restarts_pending.clear()
        return pending

    def take_stops(self) -> list[int]:
        """Retired devices whose worker the backend must stop."""
        pending = sorted(self._stops_pending)
        self._stops_pending.clear()
        return pending
