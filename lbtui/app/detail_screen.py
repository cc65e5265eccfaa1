"""The long view of one device (Enter on a row): metrics (with where its time
went: waiting for input, host preparation, the GPU, writing; and its energy),
plots over the whole run, the units it processed (stolen ones marked) and its
errors. Escape returns.

It fetches ``source.device_detail(i)`` in a thread worker, like the main
screen's snapshots, every ``app.refresh_s`` seconds: it watches that
attribute, so + and - pressed here or before take effect at once.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from virnucpro_bridge.control import SnapshotSource
from virnucpro_bridge.control.snapshot import DeviceDetail, DeviceView, UnitRecord

from .. import format as fmt
from .messages import DetailReady, SnapshotFailed
from .plot import Plot

UNIT_ROWS = 1000  # as many as the engine keeps


def metrics_content(view: DeviceView, now: float) -> Content:
    muted = "$text-muted"
    ago = None if view.last_activity is None else now - view.last_activity
    lines = [
        ("state", fmt.state_text(view)),
        ("utilization", fmt.with_unit(fmt.percent(view.utilization), " %")),
        ("memory", fmt.with_unit(fmt.percent(view.memory), " %")),
        ("temperature", fmt.with_unit(fmt.percent(view.temperature), " °C")),
        ("power", fmt.with_unit(fmt.percent(view.power), " W")),
        ("throughput", f"{fmt.rate(view.throughput)} seq/s"),
        ("queue", f"{view.queue_depth:,} units, {view.queue_sequences:,} seqs"),
        ("done", f"{view.units_done:,} units, {view.sequences_done:,} seqs"),
        ("failed", f"{view.units_failed:,} units"),
        ("stolen", f"{view.stolen_in:,} in, {view.stolen_out:,} out"),
        ("busy", fmt.duration(view.busy_s)),
        ("current", fmt.current_unit(view, 40)),
        ("last activity", f"{fmt.duration(ago)} ago" if ago is not None else fmt.DASH),
        ("weight", f"{view.weight:g}   {view.kind}   pid {fmt.DASH if view.pid is None else view.pid}"),
        # the task's own notes (e.g. its batch budget)
        *((fmt.printable(name), fmt.fit_start(fmt.printable(text), 48)) for name, text in view.task_notes),
        *fmt.task_counts(view),  # e.g. batches redone in float32
        *fmt.time_split(view),  # where its time went: is the GPU starved?
    ]
    if view.energy_wh is not None:
        lines.append(("energy", fmt.energy(view.energy_wh, view.sequences_done)))
    if view.source or view.memory_total:  # a CUDA device: how it was found, how big it is
        size = f"{view.memory_total / 2**30:.0f} GiB   " if view.memory_total else ""
        lines.append(("device", f"{size}{fmt.device_source(view.source) or fmt.DASH}"))
    if view.reason:  # why it is dead, retired or restarting
        lines.insert(1, ("why", fmt.fit(fmt.printable(view.reason), 70)))
    parts: list[str | tuple[str, str]] = []
    for label, value in lines:
        parts += [(f"{label:>14}  ", muted), value, "\n"]
    return Content.assemble(*parts[:-1])


def plot_caption(title: str, samples: tuple[tuple[float, float], ...], unit: str) -> Content:
    if not samples:
        return Content.assemble((title, "bold"), ("   no samples yet", "$text-muted"))
    values = [v for _, v in samples]
    return Content.assemble(
        (title, "bold"),
        (f"   {fmt.clock(samples[0][0])} → {fmt.clock(samples[-1][0])}", "$text-muted"),
        ("   peak ", "$text-muted"), f"{fmt.rate(max(values))} {unit}",
        ("   mean ", "$text-muted"), f"{fmt.rate(sum(values) / len(values))} {unit}",
    )


def unit_row(record: UnitRecord, ok_style: str = "green", error_style: str = "red") -> tuple[Text, ...]:
    """One row of the units table. Every cell is a ``Text``: a ``str`` cell would be read as markup."""
    rate = record.sequences / record.seconds if record.seconds > 0 else None
    error = fmt.fit(fmt.printable(record.error or "failed"), 40)
    result = Text("ok", style=ok_style) if record.ok else Text(error, style=error_style)
    return (
        Text(fmt.clock(record.finished_at)), Text(fmt.printable(record.unit)),
        Text(f"{record.sequences:,}", justify="right"),
        Text(f"{record.seconds:.1f}", justify="right"), Text(fmt.rate(rate), justify="right"),
        Text("⇄ stolen" if record.stolen else ""), result,
    )


class DeviceDetailScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, source: SnapshotSource, index: int, *, poll: bool, clock: Callable[[], float]) -> None:
        super().__init__()
        self.source = source
        self.index = index
        self.refresh_s: float | None = None  # the app's interval this screen fetches at (when polling)
        self._timer: Timer | None = None
        self.poll = poll
        self.clock = clock
        self.detail: DeviceDetail | None = None
        self._unit_keys: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble((f"Device {self.index}", "bold $accent"), ("   loading…", "$text-muted")),
                     id="detail-title")
        with Horizontal(id="detail-top"):
            yield Static(id="detail-metrics")
            with Vertical(id="detail-plots"):
                yield Static(id="throughput-caption", classes="plot-caption")
                yield Plot(unit=" seq/s", id="throughput-plot", classes="plot")
                yield Static(id="utilization-caption", classes="plot-caption")
                yield Plot(unit="%", ceiling=100.0, id="utilization-plot", classes="plot")
        yield Static(id="units-caption", classes="section-title")
        units: DataTable[Text] = DataTable(id="detail-units", cursor_type="row")
        units.add_column("Finished", width=8, key="time")
        units.add_column("Unit", width=24, key="unit")
        units.add_column("Seqs", width=7, key="seqs")
        units.add_column("Secs", width=7, key="secs")
        units.add_column("seq/s", width=7, key="rate")
        units.add_column("", width=8, key="stolen")
        units.add_column("Result", width=40, key="result")
        yield units
        with VerticalScroll(id="detail-errors"):
            yield Static(id="errors-text")
        yield Footer()

    def on_mount(self) -> None:
        if self.poll:
            self.fetch_detail()
            self.watch(self.app, "refresh_s", self._follow_refresh)  # called now, then on every change
        else:
            try:
                self.show(self.source.device_detail(self.index))
            except Exception:
                self.on_snapshot_failed(SnapshotFailed(traceback.format_exc()))

    def _follow_refresh(self, interval: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.refresh_s = interval
        self._timer = self.set_interval(interval, self.fetch_detail)

    @work(thread=True, exclusive=True, group="detail")
    def fetch_detail(self) -> None:
        worker = get_current_worker()
        try:
            detail = self.source.device_detail(self.index)
        except Exception:
            message: DetailReady | SnapshotFailed = SnapshotFailed(traceback.format_exc())
        else:
            message = DetailReady(detail)
        if not worker.is_cancelled:
            self.post_message(message)

    def on_detail_ready(self, message: DetailReady) -> None:
        self.show(message.detail)

    def on_snapshot_failed(self, message: SnapshotFailed) -> None:
        last = message.error.strip().splitlines()[-1]
        self.query_one("#detail-title", Static).update(
            Content.assemble((f"Device {self.index}", "bold $accent"),
                             (f"   cannot read its detail: {fmt.printable(last)}", "$error")))

    def show(self, detail: DeviceDetail) -> None:
        self.detail = detail
        view = detail.device
        for state in ("paused", "pausing", "draining", "drained", "stalled", "dead", "done"):
            self.set_class(fmt.row_state(view) == state, f"-{state}")
        name = fmt.device_name(view)
        self.query_one("#detail-title", Static).update(Content.assemble(
            (f"{view.label}  ", "bold $accent"), ("" if name == view.label else name, "bold"),
            ("   Escape: back", "$text-muted")))
        self.query_one("#detail-metrics", Static).update(metrics_content(view, self.clock()))
        self._plot("throughput", "Throughput, whole run", detail.throughput_history, "seq/s")
        self._plot("utilization", "Utilization, whole run", detail.utilization_history, "%")
        self._show_units(detail.units)
        stolen = sum(1 for u in detail.units if u.stolen)
        failed = sum(1 for u in detail.units if not u.ok)
        self.query_one("#units-caption", Static).update(Content.assemble(
            ("Units ", "bold"),
            (f"{len(detail.units):,} processed, {stolen:,} stolen, {failed:,} failed", "$text-muted")))
        errors = detail.errors
        self.query_one("#detail-errors").display = bool(errors)
        if errors:
            self.query_one("#errors-text", Static).update(Content.assemble(
                ("Errors\n", "bold $error"), *[(f"{fmt.printable(e)}\n", "$error") for e in errors[-20:]]))

    def _plot(self, name: str, title: str, samples: tuple[tuple[float, float], ...], unit: str) -> None:
        plot = self.query_one(f"#{name}-plot", Plot)
        plot.samples = samples  # a reactive: redraws only when the samples change
        self.query_one(f"#{name}-caption", Static).update(plot_caption(title, samples, unit))

    def _show_units(self, units: tuple[UnitRecord, ...]) -> None:
        table = self.query_one("#detail-units", DataTable)
        theme = self.app.theme_variables  # DataTable cells are Rich text: resolve the theme's colours here
        colours = (theme.get("success", "green"), theme.get("error", "red"))
        known = set(self._unit_keys)
        for record in units:
            key = f"{record.unit}@{record.finished_at!r}"
            if key in known:
                continue
            table.add_row(*unit_row(record, *colours), key=key)
            self._unit_keys.append(key)
        while len(self._unit_keys) > UNIT_ROWS:
            table.remove_row(self._unit_keys.pop(0))
