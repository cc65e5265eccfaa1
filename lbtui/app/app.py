"""LbtuiApp: the live dashboard over a SnapshotSource and RunCommands.

Data flow (one arrow per hop; nothing else touches the engine)::

    set_interval(refresh) ─► fetch_snapshot()   [thread worker, exclusive]
                                 │ source.snapshot()  (may block: Manager, NVML)
                                 ▼
                        post_message(SnapshotReady)
                                 │
                                 ▼  event loop
    apply_snapshot() ─► header, progress, GpuTable.show (changed rows), EventLog (seq > last_seq)

    key ─► action_* ─► run_command()   [thread worker] ─► commands.pause(i) ...
                                 ▼
                        post_message(CommandFinished) ─► log line / notify, refetch

The app keeps the only state the engine does not: each device's recent
throughput samples (for the Trend column) and the refresh interval.

Two switches: ``attached`` (a run in another process, ``lbtui attach``: the
quit dialog detaches, or stops the run) and ``read_only`` (every command goes
to ``ReadOnlyCommands``, which refuses it; the keys say so before trying).
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from virnucpro_bridge.control import CommandError, RunCommands, SnapshotSource
from virnucpro_bridge.control import snapshot as snap

from .. import format as fmt
from ..remote import ReadOnlyCommands
from .detail_screen import DeviceDetailScreen
from .event_log import MAX_LINES, EventLog
from .gpu_table import GpuTable
from .help_screen import HelpScreen
from .messages import CommandFinished, SnapshotFailed, SnapshotReady
from .modals import DETACH, STOP_NOW, ConfirmDrain, QuitModal
from .progress import FinishedBanner, RunHeader, RunProgress
from .report_prompt import ConfirmReport

REFRESH_STEPS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)  # what + and - step through
TREND_SAMPLES = 20  # the Trend column's width at most: one character per refresh
STALE_AFTER = 3  # refreshes without a snapshot before the header says so
DEVICE_ACTIONS = {"toggle_pause", "drain_device", "toggle_stealing", "open_detail", "change_refresh"}


def next_refresh(current: float, direction: int) -> float:
    """The next step up (+1) or down (-1) from ``current``, within 0.5-10 s."""
    if direction > 0:
        return next((s for s in REFRESH_STEPS if s > current + 1e-9), REFRESH_STEPS[-1])
    return next((s for s in reversed(REFRESH_STEPS) if s < current - 1e-9), REFRESH_STEPS[0])


class LbtuiApp(App[None]):
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

    # -- polling ----------------------------------------------------------

    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(self.refresh_s, self._tick)

    def watch_refresh_s(self) -> None:
        if self._timer is not None:  # polling: from now on at the new interval
            self._start_timer()

    def _tick(self) -> None:
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

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.apply_snapshot(message.snapshot)

    def on_snapshot_failed(self, message: SnapshotFailed) -> None:
        last = message.error.strip().splitlines()[-1]
        if not self.fetch_failed:  # one toast per outage, not one per refresh
            self.notify(last, title="Cannot read the run's state", severity="error")
            self.query_one(EventLog).add_line(self.clock(), f"snapshot failed: {last}", "error", "✗")
        self.fetch_failed = True
        self.show_header()

    # -- applying a snapshot (event loop) -----------------------------------

    def apply_snapshot(self, snapshot: snap.RunSnapshot) -> None:
        """Show ``snapshot`` everywhere; the only place widgets change from run data."""
        previous = self.snapshot
        self.snapshot = snapshot
        self.last_update = self.clock()
        self.fetch_failed = False
        if previous is None or snapshot.time != previous.time:
            self._record_history(snapshot)
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
        notices.update("! " + "   ! ".join(snapshot.notices))

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

    # -- commands ---------------------------------------------------------

    @work(thread=True, group="commands")
    def run_command(self, label: str, call: Callable[[], str]) -> None:
        """Commands may block like snapshots do; their answer comes back as a message."""
        try:
            message = CommandFinished(label, True, call())
        except CommandError as error:
            message = CommandFinished(label, False, str(error) or type(error).__name__)
        except Exception as error:  # a broken backend: show it, never swallow it
            message = CommandFinished(label, False, f"{type(error).__name__}: {error}")
        self.post_message(message)

    def on_command_finished(self, message: CommandFinished) -> None:
        log = self.query_one(EventLog)
        if message.ok:
            log.add_line(self.clock(), f"{message.label}: {message.text}", "control", "›")
            log.echoed.append(message.text)
        else:
            log.add_line(self.clock(), f"{message.label} failed: {message.text}", "error", "✗")
            self.notify(message.text, title=f"{message.label} failed", severity="error")
        self.refetch()

    def refused(self, what: str) -> bool:
        """In read-only mode, say why ``what`` does nothing (and do nothing)."""
        if self.read_only:
            self.notify(f"{what}: {ReadOnlyCommands.REASON}", title="Read-only", severity="warning")
        return self.read_only

    def action_toggle_pause(self) -> None:
        if self.refused("pause/resume"):
            return
        view = self.selected_device()
        if view is None:
            self.notify("No device selected", severity="warning")
            return
        label = self.device_label(view.index)
        if view.paused or view.state == snap.PAUSED:
            self.run_command(f"resume {label}", lambda: self.commands.resume(view.index))
        else:
            self.run_command(f"pause {label}", lambda: self.commands.pause(view.index))

    def action_drain_device(self) -> None:
        if self.refused("drain"):
            return
        view = self.selected_device()
        if view is None:
            self.notify("No device selected", severity="warning")
            return
        label = self.device_label(view.index)

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_command(f"drain {label}", lambda: self.commands.drain(view.index))

        who = label if fmt.device_name(view) == label else f"{label} ({view.name})"
        self.push_screen(ConfirmDrain(who, view.queue_depth), answered)

    def action_toggle_stealing(self) -> None:
        if self.refused("stealing on/off"):
            return
        enable = not (self.snapshot.stealing if self.snapshot is not None else True)
        self.run_command(f"stealing {'on' if enable else 'off'}", lambda: self.commands.set_stealing(enable))

    def action_change_refresh(self, direction: int) -> None:
        self.refresh_s = next_refresh(self.refresh_s, direction)  # see watch_refresh_s
        self.show_header()
        self.notify(f"refresh every {self.refresh_s:g} s", timeout=1.5)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Device and run keys act from the dashboard and the detail screen only;
        not from under a dialog or the help, and Enter does not stack details."""
        if action in DEVICE_ACTIONS:
            if isinstance(self.screen, ModalScreen):
                return False
            if action == "open_detail" and isinstance(self.screen, DeviceDetailScreen):
                return False
        return True

    # -- screens ----------------------------------------------------------

    @on(GpuTable.DeviceSelected)
    def _device_selected(self, event: GpuTable.DeviceSelected) -> None:
        self.query_one(GpuTable).select_device(event.index)
        self.action_open_detail()

    def action_open_detail(self) -> None:
        view = self.selected_device()
        if view is None:
            return
        self.push_screen(DeviceDetailScreen(self.source, view.index, poll=self.poll, clock=self.clock))

    def action_show_help(self) -> None:
        self.push_screen(HelpScreen(attached=self.attached, read_only=self.read_only))

    def action_write_report(self) -> None:
        from ..report.command import default_target

        snapshot = self.snapshot
        if snapshot is None or not snapshot.out_dir:
            self.notify("no run folder yet", title="Report", severity="warning")
            return
        target = str(default_target(snapshot.out_dir))

        def answered(yes: bool | None) -> None:
            if yes:
                self.write_report(snapshot.out_dir, target)

        self.push_screen(ConfirmReport(target, snapshot.finished), answered)

    @work(thread=True, exclusive=True, group="report")
    def write_report(self, out_dir: str, target: str) -> None:
        from virnucpro_bridge.errors import LbtuiError

        from ..report.command import write_report

        try:
            path = write_report(out_dir, target)
        except (LbtuiError, OSError) as error:
            self.call_from_thread(self.notify, str(error), title="Report not written", severity="error")
        else:
            self.call_from_thread(self.notify, str(path), title="Report written")

    # -- quitting ---------------------------------------------------------

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
