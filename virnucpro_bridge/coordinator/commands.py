"""What steers or stops the run: the UI's commands (pause, resume, drain, stealing,
stop) and ``abort`` (the run cannot go on).

Commands come from a UI thread. Each takes the coordinator's lock, sets flags
and records an event; moving units (drain's give-back) is left to the
dispatcher thread, woken through ``wake``. Each returns a short message for
the UI, or raises :class:`~virnucpro_bridge.control.CommandError`. ``stop``
takes no lock: a signal handler calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from ..control import snapshot as S
from ..control.control import CommandError
from .device_book import DeviceBook
from .events import EventLog

ABORT_CODE = 3  # the run's exit code after abort(), unless it says otherwise


class RunControls:
    def __init__(self, books: Sequence[DeviceBook], log: EventLog, lock: threading.RLock,
                 wake: Callable[[], None], *, stealing: bool, cuts_on_stop: bool = False) -> None:
        """``wake`` interrupts the backend's wait; it must be safe from a signal handler.
        ``cuts_on_stop``: a stop cuts units in flight at their next boundary (splitting is on)."""
        self.books, self.log, self.lock, self.wake = books, log, lock, wake
        self.cuts_on_stop = cuts_on_stop
        self.stealing = stealing  # idle devices take queued units from busy ones (--no-steal: off)
        self.stopping = False  # no new work is handed out
        self.stop_now = False  # ... and units in flight are not waited for
        self.error: str | None = None  # why the run was aborted
        self.abort_code = ABORT_CODE
        self._pending_drains: set[int] = set()  # drained devices whose queue the dispatcher gives back

    def _book(self, index: int) -> DeviceBook:
        if not 0 <= index < len(self.books):
            raise CommandError(f"no device {index}")
        return self.books[index]

    def pause(self, index: int) -> str:
        with self.lock:
            book = self._book(index)
            if not book.alive:
                raise CommandError(f"{book.spec.label} is {'dead' if book.dead else 'drained'}")
            if book.paused:
                return f"{book.spec.label} is already paused"
            book.paused = True
            return self._control(book, "paused" + (" after its current unit" if book.in_flight else ""), "pause")

    def resume(self, index: int) -> str:
        with self.lock:
            book = self._book(index)
            if not book.paused:
                return f"{book.spec.label} is not paused"
            book.paused = False
            return self._control(book, "resumed", "resume")

    def drain(self, index: int) -> str:
        with self.lock:
            book = self._book(index)
            if not book.alive or book.draining:
                raise CommandError(f"{book.spec.label} is already {'dead' if book.dead else 'draining'}")
            book.draining = True
            self._pending_drains.add(index)
            return self._control(book, "draining: finishes its current unit, gives its queue back, stops",
                                 "drain")

    def set_stealing(self, enabled: bool) -> str:
        with self.lock:
            self.stealing = bool(enabled)
            message = f"work stealing {'on' if enabled else 'off'}"
            self.log.add(S.EV_CONTROL, "info", message, action="stealing_on" if enabled else "stealing_off")
            self.wake()
            return message

    def stop(self, now: bool = False) -> str:
        # No lock: a signal handler calls this, and must never wait on a
        # dispatcher that holds the lock (or is stuck holding it). Two flag
        # writes and a deque append are atomic under the GIL.
        again = self.stopping and (self.stop_now or not now)
        self.stopping = True
        self.stop_now = self.stop_now or now
        message = ("stopping now" if now else "stopping: units in flight end at their next record and keep "
                   "what they did" if self.cuts_on_stop else "stopping after the units in flight")
        if not again:
            self.log.add(S.EV_CONTROL, "warning", message, action="stop_now" if now else "stop", locked=False)
        self.wake()
        return message

    def abort(self, message: str, code: int = ABORT_CODE) -> None:
        """The run cannot go on (its output disk failed, an internal error, no device
        could start): hand out nothing more; the run exits ``code``."""
        with self.lock:
            if self.error is None:
                self.error = message
                self.abort_code = code
                self.log.error(message)
                self.log.add(S.EV_ERROR, "error", f"run aborted: {message}")
            self.stopping = True

    def _control(self, book: DeviceBook, what: str, action: str) -> str:
        message = f"{book.spec.label} {what}"
        self.log.add(S.EV_CONTROL, "info", message, book.spec.index, action=action)
        self.wake()
        return message

    # -- the dispatcher's half -------------------------------------------------------
    def take_drains(self) -> list[int]:
        """Devices drained since the last call (their queues are to be given back)."""
        pending, self._pending_drains = self._pending_drains, set()
        return sorted(pending)

    def mark_drained(self, index: int) -> None:
        book = self.books[index]
        book.drained, book.draining = True, False
        self.log.add(S.EV_CONTROL, "info", f"{book.spec.label} drained", index, action="drained")
