"""The refresh loop: a snapshot every ``refresh_s`` seconds, fetched off the event loop.

    set_interval(refresh) ─► fetch_snapshot()   [thread worker, exclusive]
                                 │ source.snapshot()  (may block: Manager, NVML)
                                 ▼
                        post_message(SnapshotReady | SnapshotFailed)  ─► apply_snapshot()

``+``/``-`` step the interval; open detail screens follow it too.
"""

from __future__ import annotations

import traceback

from textual import work
from textual.css.query import NoMatches
from textual.worker import get_current_worker

from .. import format as fmt
from .event_log import EventLog
from .gpu_table import GpuTable
from .messages import SnapshotFailed, SnapshotReady

REFRESH_STEPS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)  # what + and - step through


def next_refresh(current: float, direction: int) -> float:
    """The next step up (+1) or down (-1) from ``current``, within 0.5-10 s."""
    if direction > 0:
        return next((s for s in REFRESH_STEPS if s > current + 1e-9), REFRESH_STEPS[-1])
    return next((s for s in reversed(REFRESH_STEPS) if s < current - 1e-9), REFRESH_STEPS[0])


class RefreshLoop:
    """Mixed into LbtuiApp: the timer, the fetch worker and what its messages do."""

    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(self.refresh_s, self._tick)

    def watch_refresh_s(self) -> None:
        if self._timer is not None:  # polling: from now on at the new interval
            self._start_timer()

    def _tick(self) -> None:
        if self._torn_down():  # a timer can fire once more while the app shuts down
            return
        self.fetch_snapshot()
        self.show_header()  # keep the staleness warning current even if fetches hang

    @work(thread=True, exclusive=True, group="snapshot")
    def fetch_snapshot(self) -> None:
        """Fetch off the event loop: the source may block on Manager proxies or NVML."""
        worker = get_current_worker()
        try:
            message: SnapshotReady | SnapshotFailed = SnapshotReady(self.source.snapshot())
        except Exception:
            message = SnapshotFailed(traceback.format_exc())
        if not worker.is_cancelled:
            self.post_message(message)

    def refetch(self) -> None:
        """A new snapshot now, e.g. right after a command, so its effect shows at once."""
        if self.poll:
            self.fetch_snapshot()
        else:
            self.apply_snapshot(self.source.snapshot())

    def _torn_down(self) -> bool:
        """A fetch can land while the app shuts down, after its widgets are gone."""
        try:
            self.query_one(GpuTable)
        except NoMatches:
            return True
        return False

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if not self._torn_down():
            self.apply_snapshot(message.snapshot)

    def on_snapshot_failed(self, message: SnapshotFailed) -> None:
        if self._torn_down():
            return
        last = message.error.strip().splitlines()[-1]
        if not self.fetch_failed:  # one toast per outage, not one per refresh
            self.notify(fmt.printable(last), title="Cannot read the run's state", severity="error", markup=False)
            self.query_one(EventLog).add_line(self.clock(), f"snapshot failed: {last}", "error", "✗")
        self.fetch_failed = True
        self.show_header()

    def action_change_refresh(self, direction: int) -> None:
        self.refresh_s = next_refresh(self.refresh_s, direction)  # see watch_refresh_s
        self.show_header()
        self.notify(f"refresh every {self.refresh_s:g} s", timeout=1.5)
