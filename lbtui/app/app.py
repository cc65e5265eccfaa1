"""LbtuiApp: the live dashboard over a SnapshotSource and RunCommands.

Data flow (one arrow per hop; nothing else touches the engine)::

    refresh.py   timer ─► fetch_snapshot() [thread] ─► SnapshotReady
    app.py       apply_snapshot() ─► header, progress, GpuTable.show (changed rows),
                                     EventLog (seq > last_seq)
    actions.py   key ─► action_* ─► run_command() [thread] ─► CommandFinished ─► log, refetch
    quitting.py  q ─► ask (in flight / attached / read-only) ─► exit, detach or stop

The app keeps the only state the engine does not: each device's recent
throughput samples (for the Trend column) and the refresh interval.

Two switches: ``attached`` (a run in another process, ``lbtui attach``: the
quit dialog detaches, or stops the run) and ``read_only`` (every command goes
to ``ReadOnlyCommands``, which refuses it; the keys say so before trying).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import var
from textual.timer import Timer
from textual.widgets import Footer, Static

from virnucpro_bridge.control import RunCommands, SnapshotSource
from virnucpro_bridge.control import snapshot as snap

from .. import format as fmt
from ..remote import ReadOnlyCommands
from .actions import DeviceActions
from .event_log import MAX_LINES, EventLog
from .gpu_table import GpuTable
from .progress import FinishedBanner, RunHeader, RunProgress
from .quitting import Quitting
from .refresh import REFRESH_STEPS, RefreshLoop

__all__ = ["LbtuiApp"]

TREND_SAMPLES = 20  # the Trend column's width at most: one character per refresh
STALE_AFTER = 3  # refreshes without a snapshot before the header says so


class LbtuiApp(RefreshLoop, DeviceActions, Quitting, App[None]):
    """The dashboard. ``poll=False`` applies one snapshot on mount and starts no
    timers, for snapshot tests; ``clock`` stamps our own log lines and staleness."""

    CSS_PATH = Path(__file__).with_name("lbtui.tcss")
    ENABLE_COMMAND_PALETTE = False
    # Under 32 rows the log shrinks and the gaps go, so the table keeps its rows.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    refresh_s: var[float] = var(2.0)  # seconds between snapshots; open detail screens follow it too

    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("d", "drain_device", "Drain"),
        Binding("s", "toggle_stealing", "Stealing"),
        Binding("enter", "open_detail", "Detail"),
        Binding("plus,equals_sign", "change_refresh(1)", "Slower", key_display="+"),
        Binding("minus", "change_refresh(-1)", "Faster", key_display="-"),
        Binding("r", "write_report", "Report"),
        Binding("question_mark", "show_help", "Help", key_display="?"),
        Binding("q", "request_quit", "Quit"),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
        Binding("ctrl+q", "request_quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        source: SnapshotSource,
        commands: RunCommands,
        *,
        refresh: float = 2.0,
        exit_on_finish: bool = False,
        title: str = "lbtui",
        clock: Callable[[], float] = time.time,
        poll: bool = True,
        log_lines: int = MAX_LINES,
        attached: bool = False,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.source = source
        self.commands: RunCommands = ReadOnlyCommands(commands) if read_only else commands
        self.attached = attached
        self.read_only = read_only
        self._timer: Timer | None = None
        self.refresh_s = min(REFRESH_STEPS[-1], max(REFRESH_STEPS[0], refresh))
        self.exit_on_finish = exit_on_finish
        self.run_title = f"{title} (read-only)" if read_only else title
        self.clock = clock
        self.poll = poll
        self.log_lines = log_lines
        self.snapshot: snap.RunSnapshot | None = None
        self.history: dict[int, deque[float | None]] = {}
        self.last_update: float | None = None  # clock() when the last snapshot arrived
        self.fetch_failed = False
        self._quitting = False
        self._notices: tuple[str, ...] = ()
        self._table_state = ""  # "waiting", "devices" or "none": what the device area shows
        self.title = self.run_title

    # -- layout -----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield RunProgress(id="progress")
        yield Static(id="notices")
        yield FinishedBanner(id="banner")
        with Vertical(id="devices"):
            yield GpuTable(id="gpus")
            yield Static(id="table-empty")
        yield EventLog(max_lines=self.log_lines, id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(FinishedBanner).display = False
        self.query_one("#notices").display = False
        self._show_table_state("waiting")
        self.query_one(GpuTable).focus()
        self.show_header()
        if self.poll:
            self.fetch_snapshot()
            self._start_timer()
        else:
            self.apply_snapshot(self.source.snapshot())

    # -- applying a snapshot (event loop) -----------------------------------

    def apply_snapshot(self, snapshot: snap.RunSnapshot) -> None:
        """Show ``snapshot`` everywhere; the only place widgets change from run data."""
        previous = self.snapshot
        self.snapshot = snapshot
        self.last_update = self.clock()
        self.fetch_failed = False
        if not snapshot.finished and (previous is None or snapshot.time != previous.time):
            self._record_history(snapshot)  # a finished run's trend stops where the work stopped
        table = self.query_one(GpuTable)
        with self.batch_update():
            self.show_header()
            self.query_one(RunProgress).show(snapshot)
            self._show_notices(snapshot)
            self.query_one(FinishedBanner).show(snapshot)
            table.show(snapshot.devices, self.history)
            self._show_table_state("devices" if snapshot.devices else "none")
            self.query_one(EventLog).add_events(snapshot.events, fmt.device_labels(snapshot))
            self.set_class(snapshot.finished, "-finished")
            self.set_class(snapshot.stopping and not snapshot.finished, "-stopping")
        if snapshot.finished and self.exit_on_finish and not self._quitting:
            self._quitting = True
            self.exit()

    def _show_table_state(self, state: str) -> None:
        """The table, or a designed message instead of an empty one."""
        if state == self._table_state:
            return
        self._table_state = state
        table = self.query_one(GpuTable)
        empty = self.query_one("#table-empty", Static)
        table.display = state == "devices"
        empty.display = state != "devices"
        empty.update("waiting for the first snapshot…" if state == "waiting" else "no devices in this run")

    def _record_history(self, snapshot: snap.RunSnapshot) -> None:
        for view in snapshot.devices:
            samples = self.history.setdefault(view.index, deque(maxlen=TREND_SAMPLES))
            samples.append(None if fmt.missing(view.throughput) else view.throughput)

    def _show_notices(self, snapshot: snap.RunSnapshot) -> None:
        if snapshot.notices == self._notices:
            return
        self._notices = snapshot.notices
        notices = self.query_one("#notices", Static)
        notices.display = bool(snapshot.notices)
        notices.update(Content("! " + "   ! ".join(fmt.printable(n) for n in snapshot.notices)))

    def show_header(self) -> None:
        stale = None
        if self.poll and self.last_update is not None:
            age = self.clock() - self.last_update
            if age > STALE_AFTER * self.refresh_s:
                stale = age
        self.query_one(RunHeader).show(self.run_title, self.snapshot, self.refresh_s, stale)

    def device_label(self, index: int) -> str:
        """The engine's label for a device ('GPU0', 'SIM2'); its index while none is known."""
        return fmt.device_labels(self.snapshot).get(index, f"#{index}")

    def selected_device(self) -> snap.DeviceView | None:
        index = self.query_one(GpuTable).selected_index
        if index is None or self.snapshot is None:
            return None
        return next((d for d in self.snapshot.devices if d.index == index), None)

