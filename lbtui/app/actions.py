"""The dashboard's keys: device and run commands, the detail and help screens, the report.

    key ─► action_* ─► run_command()   [thread worker] ─► commands.pause(i) ...
                                 ▼
                        post_message(CommandFinished) ─► log line / notify, refetch

Commands may block like snapshots do, so they run in thread workers and answer
with a message. In read-only mode every command is refused before it is tried,
and so is the report (read-only writes nothing). Text from outside (errors,
paths) reaches a notification as plain text (``markup=False``), never markup.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.screen import ModalScreen

from virnucpro_bridge.control import CommandError
from virnucpro_bridge.control import snapshot as snap

from .. import format as fmt
from ..remote import ReadOnlyCommands
from .detail_screen import DeviceDetailScreen
from .event_log import EventLog
from .gpu_table import GpuTable
from .help_screen import HelpScreen
from .host import AppHost
from .messages import CommandFinished
from .modals import confirm_drain, confirm_report

READ_ONLY_REPORT = "this dashboard writes nothing (started with --read-only); `lbtui report OUT` writes it"
DEVICE_ACTIONS = {"toggle_pause", "drain_device", "toggle_stealing", "open_detail", "change_refresh"}


class DeviceActions(AppHost):
    """Mixed into LbtuiApp: what the keys do, apart from quitting."""

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
            self.notify(fmt.printable(message.text), title=f"{message.label} failed", severity="error",
                        markup=False)
        self.refetch()

    def refused(self, what: str) -> bool:
        """In read-only mode, say why ``what`` does nothing (and do nothing)."""
        if self.read_only:
            self.notify(f"{what}: {ReadOnlyCommands.REASON}", title="Read-only", severity="warning")
        return self.read_only

    def device_to_command(self, what: str) -> tuple[snap.DeviceView, str] | None:
        """The selected device and its label for a device command, or None after
        saying why not (read-only mode, nothing selected)."""
        if self.refused(what):
            return None
        view = self.selected_device()
        if view is None:
            self.notify("No device selected", severity="warning")
            return None
        return view, self.device_label(view.index)

    def action_toggle_pause(self) -> None:
        target = self.device_to_command("pause/resume")
        if target is None:
            return
        view, label = target
        if view.paused or view.state == snap.PAUSED:
            self.run_command(f"resume {label}", lambda: self.commands.resume(view.index))
        else:
            self.run_command(f"pause {label}", lambda: self.commands.pause(view.index))

    def action_drain_device(self) -> None:
        target = self.device_to_command("drain")
        if target is None:
            return
        view, label = target

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_command(f"drain {label}", lambda: self.commands.drain(view.index))

        who = label if fmt.device_name(view) == label else f"{label} ({fmt.printable(view.name)})"
        self.push_screen(confirm_drain(who, view.queue_depth), answered)

    def action_toggle_stealing(self) -> None:
        if self.refused("stealing on/off"):
            return
        enable = not (self.snapshot.stealing if self.snapshot is not None else True)
        self.run_command(f"stealing {'on' if enable else 'off'}", lambda: self.commands.set_stealing(enable))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Device and run keys act from the dashboard and the detail screen only;
        not from under a dialog or the help, and Enter does not stack details."""
        if action in DEVICE_ACTIONS:
            if isinstance(self.screen, ModalScreen):
                return False
            if action == "open_detail" and isinstance(self.screen, DeviceDetailScreen):
                return False
        return True

    def on_gpu_table_device_selected(self, event: GpuTable.DeviceSelected) -> None:
        # A name-based handler: textual's @on decorator is collected only on message pump classes.
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

        if self.read_only:
            self.notify(f"writing the report: {READ_ONLY_REPORT}", title="Read-only", severity="warning")
            return
        snapshot = self.snapshot
        if snapshot is None or not snapshot.out_dir:
            self.notify("no run folder yet", title="Report", severity="warning")
            return
        target = str(default_target(snapshot.out_dir))

        def answered(yes: bool | None) -> None:
            if yes:
                self.write_report(snapshot.out_dir, target)

        self.push_screen(confirm_report(target, snapshot.finished), answered)

    @work(thread=True, exclusive=True, group="report")
    def write_report(self, out_dir: str, target: str) -> None:
        from virnucpro_bridge.errors import LbtuiError

        from ..report.command import write_report

        try:
            path = write_report(out_dir, target)
        except (LbtuiError, OSError) as error:
            self.call_from_thread(self.notify, fmt.printable(error), title="Report not written",
                                  severity="error", markup=False)
        else:
            self.call_from_thread(self.notify, fmt.printable(path), title="Report written", markup=False)
