"""Quitting, in each of the app's modes.

* our own run, units in flight: ask whether to let them finish or stop now;
* attached (``lbtui attach``) or read-only: always ask; detach leaves the run going;
* a finished run, or nothing yet to ask about: quit at once (still making sure
  no new work is handed out once the UI is gone).
"""

from __future__ import annotations

import traceback

from textual import work

from .host import AppHost
from .modals import DETACH, STOP_NOW, QuitModal


class Quitting(AppHost):
    """Mixed into LbtuiApp: the quit key and what each answer does."""

    async def action_quit(self) -> None:
        self.action_request_quit()

    def action_request_quit(self) -> None:
        """Quit; if units are in flight, ask whether to let them finish. Attached
        (or read-only), always ask: detach, or stop the run (unless read-only)."""
        if self._quitting:
            return
        if isinstance(self.screen, QuitModal):
            return
        snapshot = self.snapshot
        if snapshot is None and self.attached or snapshot is not None and snapshot.finished:
            self._quit(None)
        elif self.attached or self.read_only:
            in_flight = snapshot.units_in_flight if snapshot is not None else 0
            self.push_screen(QuitModal(in_flight, attached=self.attached, read_only=self.read_only),
                             self._quit_answered)
        elif snapshot is None:
            self._quit(None)
        elif snapshot.units_in_flight > 0 and not snapshot.stopping:
            self.push_screen(QuitModal(snapshot.units_in_flight), self._quit_answered)
        else:
            # Nothing in flight (or a stop already requested): no question to ask,
            # but make sure no new work is handed out after the UI is gone.
            self._quit(None if snapshot.stopping else "after")

    def _quit_answered(self, choice: str | None) -> None:
        if choice is not None:
            self._quit(choice)

    def _quit(self, stop: str | None) -> None:
        self._quitting = True
        if stop is None or stop == DETACH:
            self.exit()
        else:
            self._stop_and_exit(stop == STOP_NOW)

    @work(thread=True, group="commands")
    def _stop_and_exit(self, now: bool) -> None:
        try:
            self.commands.stop(now=now)
        except Exception:  # the engine finishes its own shutdown; quitting must not hang on this
            self.call_from_thread(self.log.error, traceback.format_exc())
        self.call_from_thread(self.exit)
