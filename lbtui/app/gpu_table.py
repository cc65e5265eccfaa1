"""The device table: one row per device, built once, updated cell by cell.

Rows are keyed by device index and columns by name, so the cursor stays on its
device however the values change. Which columns show depends on the table's
width: each column has a rank, and the most important ones that fit are kept
(in their usual order). Only a width change that alters that choice rebuilds
the table; a refresh only calls ``update_cell`` on cells whose text or style
changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.widgets import DataTable

from virnucpro_bridge import snapshot as snap

from . import format as fmt


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    rank: int  # lower ranks stay longer as the terminal narrows
    right: bool = False
    min_width: int = 0  # > 0: the column may shrink to this to fit


COLUMNS = (
    Column("idx", "#", 2, 0, right=True),
    Column("name", "Device", 14, 0),
    Column("state", "State", 10, 0),
    Column("util", "Util%", 5, 1, right=True),
    Column("mem", "Mem%", 4, 5, right=True),
    Column("rate", "seq/s", 7, 2, right=True),
    Column("trend", "Trend", 20, 4, min_width=8),
    Column("queue", "Queue", 5, 3, right=True),
    Column("done", "Done", 5, 3, right=True),
    Column("stolen", "In/Out", 7, 6, right=True),
    Column("unit", "Current unit", 18, 7),
    Column("temp", "°C", 3, 8, right=True),
    Column("power", "W", 4, 8, right=True),
)

PADDING = 1  # DataTable's cell_padding, on each side of every column
# DataTable keys its row caches by an update counter, so after each refresh the
# old entries are dead weight that the garbage collector keeps walking (p95
# spikes); a few screens of rows are all a cache can ever hit.
ROW_CACHE = 200

# Row styles by displayed state; states not listed use the plain row style.
RESTING = ("paused", "drained", "done", "dead")  # not expected to be busy: utilization is not coloured
ROW_STATES = ("idle", "paused", "pausing", "draining", "drained", "stalled", "dead", "done")


def choose_columns(width: int) -> tuple[tuple[Column, int], ...]:
    """The columns that fit in ``width`` cells, by rank, in display order, with their widths."""
    chosen: dict[str, int] = {}
    used = 0
    for column in sorted(COLUMNS, key=lambda c: c.rank):
        cost = column.width + 2 * PADDING
        if used + cost <= width:
            chosen[column.key] = column.width
            used += cost
        elif column.min_width and used + column.min_width + 2 * PADDING <= width:
            chosen[column.key] = width - used - 2 * PADDING
            used = width
    return tuple((c, chosen[c.key]) for c in COLUMNS if c.key in chosen)


def short_name(name: str) -> str:
    """'NVIDIA GeForce RTX 4090' -> 'RTX 4090': the vendor says nothing in a GPU table."""
    for prefix in ("NVIDIA GeForce ", "NVIDIA ", "GeForce "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def row_state(view: snap.DeviceView) -> str:
    """The row's style class: the displayed state, or 'pausing' while a pause is pending."""
    state = fmt.state_of(view)
    if view.paused and state in (snap.RUNNING, snap.STARTING, snap.IDLE):
        return "pausing"
    return state


class GpuTable(DataTable):
    """One row per device; see the module docstring for how it updates."""

    COMPONENT_CLASSES = {
        "gpu-table--util-high",
        "gpu-table--util-mid",
        "gpu-table--util-low",
        "gpu-table--missing",
        "gpu-table--trend",
        *(f"gpu-table--{state}" for state in ROW_STATES),
        *(f"gpu-table--state-{state}" for state in ROW_STATES),
    }

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("home,g", "scroll_top", "First device", show=False),
        Binding("end,G", "scroll_bottom", "Last device", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", cell_padding=PADDING, zebra_stripes=False)
        self._row_render_cache = LRUCache(ROW_CACHE)
        self._row_renderable_cache = LRUCache(ROW_CACHE)
        self._line_cache = LRUCache(ROW_CACHE)
        self.layout_columns: tuple[tuple[Column, int], ...] = ()
        self._devices: tuple[snap.DeviceView, ...] = ()
        self._history: Mapping[int, Sequence[float | None]] = {}
        self._cells: dict[tuple[str, str], tuple[str, Style]] = {}  # what each cell shows now
        self._seen: dict[str, tuple] = {}  # per row: the (view, samples) it shows now
        self._style_cache: dict[str, Style] | None = None  # cleared when CSS or theme changes
        self.fast_cells = True  # see _render_cell; False renders every cell the DataTable way

    # -- layout -----------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        """Choose the columns for the current width; rebuild only if the choice changed."""
        if not self.size.width:
            return
        scrollbar = self.styles.scrollbar_size_vertical if self.row_count + 1 > self.size.height else 0
        layout = choose_columns(self.size.width - scrollbar)
        if [(c.key, w) for c, w in layout] == [(c.key, w) for c, w in self.layout_columns]:
            return
        selected = self.selected_index
        self.layout_columns = layout
        self._cells.clear()
        self._seen.clear()
        self.clear(columns=True)
        for column, width in layout:
            label = Text(column.label, justify="right" if column.right else "left")
            self.add_column(label, width=width, key=column.key)
        blank = [""] * len(layout)
        for view in self._devices:
            self.add_row(*blank, key=str(view.index))
        self._fill()
        if selected is not None:
            self.select_device(selected)

    # -- selection --------------------------------------------------------

    @property
    def selected_index(self) -> int | None:
        """Device index under the cursor, or None when the table is empty."""
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    def select_device(self, index: int) -> None:
        key = str(index)
        if key in self.rows:
            self.move_cursor(row=self.get_row_index(key), animate=False)

    # -- rendering ----------------------------------------------------------

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """Body cells without Rich's layout engine.

        DataTable renders each cell through Padding/Styled/console.render_lines,
        and any update_cell invalidates every cached cell, so 64 busy devices
        cost ~50 ms of the event loop per refresh. Our body cells are always one
        line of single-style Text, so the segments can be made directly (same
        styles, same mouse metadata); headers go through DataTable as usual.
        Relies on DataTable internals of the pinned textual version; a test
        compares both paths cell by cell.
        """
        if row_index < 0 or column_index < 0 or self.fast_cells is False:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        value = self._data[row_key][column_key]
        if not isinstance(value, Text) or value.spans:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        inner = max(0, width - 2 * self.cell_padding)
        plain = value.plain
        if value.justify == "right" and cell_len(plain) < inner:
            plain = " " * (inner - cell_len(plain)) + plain
        pad = " " * self.cell_padding
        edge = pre + post_style
        return [[Segment(pad, edge), Segment(set_cell_size(plain, inner), pre + value.style + post_style),
                 Segment(pad, edge)]]

    # -- data -------------------------------------------------------------

    def show(
        self,
        devices: tuple[snap.DeviceView, ...],
        history: Mapping[int, Sequence[float | None]],
    ) -> None:
        """Show these device views; call inside ``app.batch_update()``."""
        new_rows = [v for v in devices if str(v.index) not in self.rows]
        self._devices = devices
        self._history = history
        if not self.layout_columns:
            self.relayout()
        blank = [""] * len(self.layout_columns)
        for view in new_rows:
            if self.layout_columns:
                self.add_row(*blank, key=str(view.index))
        self._fill()

    def _fill(self) -> None:
        if not self.layout_columns:
            return
        if self._style_cache is None:
            self._style_cache = self._styles()
        styles = self._style_cache
        cells = self._cells
        seen = self._seen
        for view in self._devices:
            row_key = str(view.index)
            samples = self._history.get(view.index, ())
            signature = (view, tuple(samples))
            if seen.get(row_key) == signature:
                continue  # nothing new for this device: skip its cells altogether
            seen[row_key] = signature
            state = row_state(view)
            row_style = styles.get(state, Style())
            for column, width in self.layout_columns:
                text, style = self._cell(column.key, view, width, samples, state, styles)
                style = row_style + style
                if cells.get((row_key, column.key)) == (text, style):
                    continue
                cells[(row_key, column.key)] = (text, style)
                justify = "right" if column.right else "left"
                self.update_cell(row_key, column.key, Text(text, style=style, justify=justify))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._style_cache is not None:
            self.call_later(self._restyle)

    def _restyle(self) -> None:
        """After a theme or CSS change: if our colours changed, show every cell again."""
        styles = self._styles()
        if styles != self._style_cache:
            self._style_cache = styles
            self._cells.clear()
            self._seen.clear()
            self._fill()

    def _styles(self) -> dict[str, Style]:
        get = self.get_component_rich_style
        styles = {name: get(f"gpu-table--{name}", partial=True)
                  for name in ("util-high", "util-mid", "util-low", "missing", "trend", *ROW_STATES)}
        for state in ROW_STATES:
            styles[f"state-{state}"] = get(f"gpu-table--state-{state}", partial=True)
        return styles

    @staticmethod
    def _cell(
        key: str,
        view: snap.DeviceView,
        width: int,
        samples: Sequence[float | None],
        state: str,
        styles: dict[str, Style],
    ) -> tuple[str, Style]:
        """The text and the cell's own style for one column of one device."""
        plain = Style()
        if key == "idx":
            return str(view.index), plain
        if key == "name":
            name = short_name(view.name)
            return (name if len(name) <= width else name[: width - 1] + "…"), plain
        if key == "state":
            return fmt.state_text(view), styles.get(f"state-{state}", plain)
        if key == "util":
            level = fmt.util_level(view.utilization)
            if state in RESTING:  # 0 % on a paused or finished device is no alarm
                return fmt.percent(view.utilization), styles["missing"]
            return fmt.percent(view.utilization), styles[f"util-{level}" if level else "missing"]
        if key == "trend":
            return fmt.spark(samples, width), styles["trend"]
        if key == "mem":
            text = fmt.percent(view.memory)
        elif key == "rate":
            text = fmt.rate(view.throughput)
        elif key == "queue":
            text = fmt.count(view.queue_depth)
        elif key == "done":
            text = fmt.count(view.units_done)
        elif key == "stolen":
            text = f"{view.stolen_in}/{view.stolen_out}"
        elif key == "unit":
            text = fmt.current_unit(view, width)
        elif key == "temp":
            text = fmt.percent(view.temperature)
        else:  # power
            text = fmt.percent(view.power)
        return text, styles["missing"] if text == fmt.DASH else plain
