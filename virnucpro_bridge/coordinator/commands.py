"""The commands half of the Coordinator: pause, resume, drain, stealing, stop.

Called from a UI thread. Each takes the coordinator's lock, sets flags and
records an event; moving units (drain's give-back) is left to the dispatcher
thread, woken through ``wake``. Returns a short message for the UI, or
raises :class:`~virnucpro_bridge.control.CommandError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..control import snapshot as S
from ..control.control import CommandError

if TYPE_CHECKING:
    from .device_book import DeviceBook


class RunControls:
    """Mixed into :class:`~virnucpro_bridge.coordinator.Coordinator`, whose
    state (``books``, ``lock``, ``wake``, events) it acts on."""

    def _book(self, index: int) -> DeviceBook:
        if not 0 <= index < len(self.books):
            raise CommandError(f"no device {index}")
        return self.books[index]

    def pause(self, index: int) -> str:
        with self.lock:
            return self._pause(index)

    def resume(self, index: int) -> str:
        with self.lock:
            return self._resume(index)

    def drain(self, index: int) -> str:
        with self.lock:
            return self._drain(index)

    def set_stealing(self, enabled: bool) -> str:
        with self.lock:
            return self._set_stealing(enabled)

    def stop(self, now: bool = False) -> str:
        # No lock: a signal handler calls this, and must never wait on a
        # dispatcher that holds the lock (or is stuck holding it). Two flag
        # writes and a deque append are atomic under the GIL.
        return self._stop(now)

    def _pause(self, index: int) -> str:
        book = self._book(index)
        if not book.alive:
            raise CommandError(f"{book.spec.label} is {'dead' if book.dead else 'drained'}")
        if book.paused:
            return f"{book.spec.label} is already paused"
        book.paused = True
        return self._control(book, "paused" + (" after its current unit" if book.in_flight else ""), "pause")

    def _resume(self, index: int) -> str:
        book = self._book(index)
        if not book.paused:
            return f"{book.spec.label} is not paused"
        book.paused = False
        return self._control(book, "resumed", "resume")

    def _drain(self, index: int) -> str:
        book = self._book(index)
        if not book.alive or book.draining:
            raise CommandError(f"{book.spec.label} is already {'dead' if book.dead else 'draining'}")
        book.draining = True
        self._pending_drains.add(index)
        return self._control(book, "draining: finishes its current unit, gives its queue back, stops",
                             "drain")

    def _set_stealing(self, enabled: bool) -> str:
        self.stealing = bool(enabled)
        message = f"work stealing {'on' if enabled else 'off'}"
        self._event(S.EV_CONTROL, "info", message, action="stealing_on" if enabled else "stealing_off")
        self.wake()
        return message

    def _stop(self, now: bool) -> str:
        again = self.stopping and (self.stop_now or not now)
        self.stopping = True
        self.stop_now = self.stop_now or now
        message = ("stopping now" if now else "stopping: units in flight end at their next record and keep "
                   "what they did" if self.splitting else "stopping after the units in flight")
        if not again:
            self._event(S.EV_CONTROL, "warning", message, action="stop_now" if now else "stop", locked=False)
        self.wake()
        return message

    def _control(self, book: DeviceBook, what: str, action: str) -> str:
        message = f"{book.spec.label} {what}"
        self._event(S.EV_CONTROL, "info", message, book.spec.index, action=action)
        self.wake()
        return message

    def take_pending_drains(self) -> list[int]:
        """Dispatcher: give back the queues of devices drained since last call;
        returns the drained devices that are idle and can be stopped now."""
        pending, self._pending_drains = self._pending_drains, set()
        for index in sorted(pending):
            self._give_back(self.books[index])
        # A dead or drained device keeps what nobody could take when it went
        # (every other device paused): hand it out once someone can.
        stranded = [b for b in self.books if not b.alive and b.queue]
        if stranded and any(b.accepts_work for b in self.books):
            for book in stranded:
                self._give_back(book)
        return [b.spec.index for b in self.books
                if b.draining and not b.drained and b.in_flight is None and not b.sent and not b.dead]

    def mark_drained(self, index: int) -> None:
        book = self.books[index]
        book.drained, book.draining = True, False
        self._event(S.EV_CONTROL, "info", f"{book.spec.label} drained", index, action="drained")
