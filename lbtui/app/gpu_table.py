"""The device table: one row per device, built once, updated cell by cell.

Rows are keyed by device index and columns by name, so the cursor stays on its
device however the values change. Which columns show depends on the table's
width: each column has a rank, and the most important ones that fit are kept
(in their usual order). Only a width change that alters that choice rebuilds
the table; a refresh only changes cells whose text or style changed (refreshing
the table once), and only rows with a changed cell are rendered again (see
``GpuTable._render_line_in_row``).
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
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, RowKey

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
ROW_STYLE_CACHE = 1024  # per-row cell styles: every row under a few cursor/hover states

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
        self._cell_style_cache: dict[tuple[str, str | None], Style] = {}  # (row state, cell style name) -> style
        # Rendering (see _render_line_in_row): rendered row lines, each row's
        # version (bumped when a cell in it changes) and per-cell segment styles.
        # Only each row's latest rendering is kept: older ones die young, which
        # keeps them out of the garbage collector's oldest generation.
        self._rows_rendered: dict[tuple[RowKey, int], tuple[tuple, tuple[list, list]]] = {}
        self._row_versions: dict[RowKey, int] = {}
        self._row_styles: dict[tuple, list[tuple[Style, Style, dict[Style, Style]]]] = {}
        self._paint_style: Style | None = None  # the widget's style while render_lines runs
        self._layout_version = 0
        self.fast_rows = True  # False renders every row the DataTable way (for the test that compares them)

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
        self._layout_version += 1
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

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list, list]:
        """One line of one row, cached per row until that row's cells change.

        DataTable caches rows under a table-wide update counter, so one changed
        cell re-renders every visible row, each cell through Rich's
        Padding/Styled/render_lines (~50 ms of the event loop for 64 busy
        devices). Here a row is re-rendered only when its own cells, the cursor
        or hover on it, the layout or the styles change, and body cells (always
        one line of single-style Text) become segments directly: the same
        styles and mouse metadata DataTable gives them. Relies on DataTable
        internals of the pinned textual version; a test compares both paths
        line by line.
        """
        if not self.fast_rows:
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        row_index = self._row_locations.get(row_key)
        if row_index is None:
            row_index = -1  # the header
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        key = (row_key, line_no, self._row_versions.get(row_key, 0), row_index, base_style, cursor, hover,
               self.cursor_type, self.show_cursor, self._show_hover_cursor, self._pseudo_class_state,
               self._layout_version, self.size.width)
        latest = self._rows_rendered.get((row_key, line_no))
        if latest is not None and latest[0] == key:
            rendered = latest[1]
        else:
            if row_index < 0 or self.cursor_type != "row" or self.fixed_columns or self._labelled_row_exists:
                rendered = super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
            else:
                rendered = self._render_body_row(row_key, row_index, line_no, base_style, cursor, hover)
            self._rows_rendered[(row_key, line_no)] = (key, rendered)
        return rendered

    def _render_body_row(
        self, row_key: RowKey, row_index: int, line_no: int, base_style: Style, cursor: bool, hover: bool
    ) -> tuple[list, list]:
        """What DataTable._render_line_in_row draws for a body row of a row-cursor table.

        A cell whose text has no style of its own becomes one segment rather
        than pad, text, pad in one style (what Strip.simplify would make of
        them anyway), so every later step of the paint handles fewer segments.
        """
        show_cursor, show_hover = self.show_cursor, self._show_hover_cursor
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, show_cursor, show_hover,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )
        columns = self.ordered_columns
        row_styles = self._row_styles.get((row_index, base_style, component_style, post_style))
        if row_styles is None or len(row_styles) != len(columns):
            row_styles = []
            for column_index in range(len(columns)):
                pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
                edge = pre + post_style
                row_styles.append((pre, edge, {}))
            if len(self._row_styles) > ROW_STYLE_CACHE:
                self._row_styles.clear()
            self._row_styles[(row_index, base_style, component_style, post_style)] = row_styles
        padding = self.cell_padding
        pad = " " * padding
        values = self._data[row_key]
        cells: list[list[Segment]] = []
        table_width = self._row_label_column_width
        for column_index, column in enumerate(columns):
            width = column.get_render_width(self)
            table_width += width
            value = values.get(column.key)
            if not isinstance(value, Text) or value.spans or not isinstance(value.style, Style) or line_no:
                cells.append(self._render_cell(row_index, column_index, base_style, width, cursor, hover)[line_no])
                continue
            pre, edge, by_value = row_styles[column_index]
            text_style = by_value.get(value.style)
            if text_style is None:
                text_style = by_value[value.style] = pre + value.style + post_style
            inner = max(0, width - 2 * padding)
            plain = value.plain
            if value.justify == "right" and cell_len(plain) < inner:
                plain = " " * (inner - cell_len(plain)) + plain
            plain = set_cell_size(plain, inner)
            if text_style == edge:
                cells.append([Segment(pad + plain + pad, edge)])
            else:
                cells.append([Segment(pad, edge), Segment(plain, text_style), Segment(pad, edge)])
        extend_style, _ = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, show_cursor, show_hover, False, False)
        extend_style = base_style + extend_style + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        cells.append([Segment(" " * max(0, self.size.width - table_width), extend_style)])
        return [], cells

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's Rich style walks every ancestor's styles; DataTable asks
        # for it once per line, and it cannot change within one paint.
        self._paint_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._paint_style = None

    def render_line(self, y: int) -> Strip:
        """DataTable.render_line with the style looked up once per paint
        (no fixed rows here; the header stays put)."""
        base_style = self._paint_style
        if base_style is None or self.fixed_rows:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.get_row_height(self._header_row_key) if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, base_style)

    def update_cell(
        self, row_key: RowKey | str, column_key: ColumnKey | str, value: CellType, *, update_width: bool = False
    ) -> None:
        super().update_cell(row_key, column_key, value, update_width=update_width)
        self._bump_row(row_key if isinstance(row_key, RowKey) else RowKey(row_key))

    def _bump_row(self, row_key: RowKey) -> None:
        """Mark one row's rendering stale (see _render_line_in_row)."""
        self._row_versions[row_key] = self._row_versions.get(row_key, 0) + 1

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
        """Put each changed cell into the table, then refresh the table once.

        Writes DataTable's cell store directly instead of calling update_cell
        per cell: update_cell validates both keys and refreshes (dirty regions,
        style caches) for every one of the several hundred cells a busy refresh
        changes, ~40 % of applying a snapshot. Equivalent for fixed-width
        columns (update_width=False): the store, the update counter DataTable's
        own caches key on, our row versions, and one refresh.
        """
        if not self.layout_columns:
            return
        if self._style_cache is None:
            self._style_cache = self._styles()
            self._cell_style_cache.clear()
        cells = self._cells
        seen = self._seen
        data = self._data
        combined = self._cell_style_cache
        columns = [(column.key, ColumnKey(column.key), width, "right" if column.right else "left")
                   for column, width in self.layout_columns]
        changed = False
        for view in self._devices:
            row_key = str(view.index)
            samples = self._history.get(view.index, ())
            signature = (view, tuple(samples))
            if seen.get(row_key) == signature:
                continue  # nothing new for this device: skip its cells altogether
            seen[row_key] = signature
            state = row_state(view)
            row_data = None
            for name, column_key, width, justify in columns:
                text, style_name = self._cell(name, view, width, samples, state)
                style = combined.get((state, style_name))
                if style is None:
                    style = combined[(state, style_name)] = self._combine(state, style_name)
                if cells.get((row_key, name)) == (text, style):
                    continue
                cells[(row_key, name)] = (text, style)
                if row_data is None:
                    rk = RowKey(row_key)
                    row_data = data[rk]
                    self._bump_row(rk)
                row_data[column_key] = Text(text, style=style, justify=justify)
                changed = True
        if changed:
            self._update_count += 1
            self.refresh()

    def _combine(self, state: str, style_name: str | None) -> Style:
        """A cell's style: its row's (by state) plus its own, if any."""
        styles = self._style_cache or {}
        row_style = styles.get(state, Style())
        return row_style + (styles.get(style_name, Style()) if style_name else Style())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rows_rendered.clear()
        self._row_styles.clear()
        if self._style_cache is not None:
            self.call_later(self._restyle)

    def _restyle(self) -> None:
        """After a theme or CSS change: if our colours changed, show every cell again."""
        styles = self._styles()
        if styles != self._style_cache:
            self._style_cache = styles
            self._cell_style_cache.clear()
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
    ) -> tuple[str, str | None]:
        """The text and the name of the cell's own style (None: the row's) for one column of one device."""
        if key == "idx":
            return str(view.index), None
        if key == "name":
            name = short_name(view.name)
            return (name if len(name) <= width else name[: width - 1] + "…"), None
        if key == "state":
            return fmt.state_text(view), f"state-{state}"
        if key == "util":
            level = fmt.util_level(view.utilization)
            if state in RESTING:  # 0 % on a paused or finished device is no alarm
                return fmt.percent(view.utilization), "missing"
            return fmt.percent(view.utilization), f"util-{level}" if level else "missing"
        if key == "trend":
            return fmt.spark(samples, width), "trend"
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
        return text, "missing" if text == fmt.DASH else None
