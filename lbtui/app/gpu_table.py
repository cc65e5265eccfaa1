"""The device table: one row per device, a row cursor, drawn on Textual's line API.

A ``ScrollView`` with ``render_line`` and its own line cache, as Textual's
``Log`` is built. Rows are keyed by device index, so the cursor stays on its
device however the values change. A refresh compares each cell's text and
style with what it shows and marks only rows with a changed cell; a repaint
draws only those rows again (and the rows the cursor or mouse left or entered),
each as one strip. It looks like a row-cursor ``DataTable`` (same component
styles by other names), which redraws every visible row, cell by cell through
Rich, whenever one cell changes: too slow for 64 busy devices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from virnucpro_bridge.control import snapshot as snap

from .. import format as fmt
from .columns import PADDING, Column, cell_text, choose_columns

STYLE_NAMES = ("util-high", "util-mid", "util-low", "missing", "trend", *fmt.ROW_STATES,
               *(f"state-{state}" for state in fmt.ROW_STATES))
HEADER = -1  # the header's row number


class GpuTable(ScrollView, can_focus=True):
    """One row per device; see the module docstring for how it updates."""

    DEFAULT_CSS = """
    GpuTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .gpu-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .gpu-table--header { background-tint: $foreground 5%; }
        }
        & > .gpu-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .gpu-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .gpu-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .gpu-table--hover { background: $block-hover-background; }
    }
    """

    COMPONENT_CLASSES = {"gpu-table--header", "gpu-table--cursor", "gpu-table--hover",
                         *(f"gpu-table--{name}" for name in STYLE_NAMES)}

    BINDINGS = [
        Binding("enter", "select_device", "Detail", show=False),
        Binding("up,k", "move_cursor(-1)", "Up", show=False),
        Binding("down,j", "move_cursor(1)", "Down", show=False),
        Binding("pageup", "move_page(-1)", "Page up", show=False),
        Binding("pagedown", "move_page(1)", "Page down", show=False),
        Binding("home,g", "first_device", "First device", show=False),
        Binding("end,G", "last_device", "Last device", show=False),
    ]

    class DeviceSelected(Message):
        """Enter, or a click on the row under the cursor: open this device."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.layout_columns: tuple[tuple[Column, int], ...] = ()
        self.devices: tuple[snap.DeviceView, ...] = ()
        self.history: Mapping[int, Sequence[float | None]] = {}
        self.order: list[int] = []  # device index of each row
        self.cursor = 0  # row under the cursor
        self.hover: int | None = None  # row under the mouse
        self.shown: dict[tuple[int, str], tuple[str, Style]] = {}  # (device, column) -> what the cell shows
        self.rows_seen: dict[int, tuple[Any, ...]] = {}  # device -> the (view, samples) its cells show
        self.versions: dict[int, int] = {}  # device -> bumped when a cell of its row changes
        self.strips: dict[int, tuple[tuple[Any, ...], Strip]] = {}  # row -> (what it was drawn from, the strip)
        self.palette: dict[str, Style] | None = None  # component styles; None after a CSS or theme change
        self.cell_styles: dict[tuple[str, str | None], Style] = {}  # (row state, cell style name) -> style
        self.layout_version = 0

    # -- rows and layout ------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.order)

    @property
    def selected_index(self) -> int | None:
        """Device index under the cursor, or None when the table is empty."""
        return self.order[self.cursor] if self.order else None

    def select_device(self, index: int) -> None:
        if index in self.order:
            self.set_cursor(self.order.index(index))

    def cell(self, index: int, column: str) -> tuple[str, Style]:
        """The text and style one cell shows (KeyError while its column is hidden)."""
        return self.shown[(index, column)]

    def on_resize(self, event: events.Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        """Choose the columns for the current width; redraw everything only if the choice changed."""
        if not self.size.width:
            return
        scrollbar = self.styles.scrollbar_size_vertical if self.row_count + 1 > self.size.height else 0
        layout = choose_columns(self.size.width - scrollbar)
        if [(c.key, w) for c, w in layout] != [(c.key, w) for c, w in self.layout_columns]:
            self.layout_columns = layout
            self.layout_version += 1
            self.shown.clear()
            self.rows_seen.clear()
            self.fill()
        self.strips.clear()
        self.refresh()

    def show(self, devices: tuple[snap.DeviceView, ...], history: Mapping[int, Sequence[float | None]]) -> None:
        """Show these device views; call inside ``app.batch_update()``."""
        self.devices = devices
        self.history = history
        order = [view.index for view in devices]
        if order != self.order:
            selected = self.selected_index
            self.order = order
            self.strips.clear()
            self.virtual_size = Size(0, len(order) + 1)  # columns always fit: no sideways scrolling
            self.cursor = min(self.cursor, max(0, len(order) - 1))
            if selected is not None:
                self.select_device(selected)
        if not self.layout_columns:
            self.relayout()
        self.fill()

    def fill(self) -> None:
        """Note each cell whose text or style changed; repaint if any did."""
        if not self.layout_columns:
            return
        if self.palette is None:
            self.palette = self.component_styles()
            self.cell_styles.clear()
        shown, seen, styles = self.shown, self.rows_seen, self.cell_styles
        keys = [(column.key, width) for column, width in self.layout_columns]
        changed = False
        for view in self.devices:
            index = view.index
            samples = self.history.get(index, ())
            signature = (view, tuple(samples))
            if seen.get(index) == signature:
                continue  # nothing new for this device: skip its cells altogether
            seen[index] = signature
            state = fmt.row_state(view)
            for key, width in keys:
                text, style_name = cell_text(key, view, width, samples, state)
                style = styles.get((state, style_name))
                if style is None:
                    style = styles[(state, style_name)] = self.combine(state, style_name)
                if shown.get((index, key)) != (text, style):
                    shown[(index, key)] = (text, style)
                    self.versions[index] = self.versions.get(index, 0) + 1
                    changed = True
        if changed:
            self.refresh()

    # -- styles ---------------------------------------------------------------

    def combine(self, state: str, style_name: str | None) -> Style:
        """A cell's style: its row's (by state) plus its own, if any."""
        palette = self.palette or {}
        row_style = palette.get(state, Style())
        return row_style + (palette.get(style_name, Style()) if style_name else Style())

    def component_styles(self) -> dict[str, Style]:
        get = self.get_component_rich_style
        return {name: get(f"gpu-table--{name}", partial=True) for name in STYLE_NAMES}

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.strips.clear()
        if self.palette is not None:
            self.call_later(self.restyle)

    def restyle(self) -> None:
        """After a theme or CSS change: if our colours changed, show every cell again."""
        palette = self.component_styles()
        if palette != self.palette:
            self.palette = palette
            self.cell_styles.clear()
            self.shown.clear()
            self.rows_seen.clear()
            self.fill()

    # -- drawing --------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        row = HEADER if y == 0 else y - 1 + int(self.scroll_y)
        if row >= self.row_count:
            return Strip.blank(width, base)
        cursor = row == self.cursor and row != HEADER
        hover = row == self.hover
        index = None if row == HEADER else self.order[row]
        version = 0 if index is None else self.versions.get(index, 0)
        key = (index, version, cursor, hover, base, width, self.layout_version, self.has_focus)
        cached = self.strips.get(row)
        if cached is not None and cached[0] == key:
            return cached[1]
        strip = self.draw_row(row, index, base, cursor, hover, width)
        self.strips[row] = (key, strip)
        return strip

    def draw_row(self, row: int, index: int | None, base: Style, cursor: bool, hover: bool, width: int) -> Strip:
        """One row as DataTable draws a row-cursor table's row: padded cells, then
        the row's style to the edge; mouse metadata says which row was clicked."""
        get = self.get_component_rich_style
        if row == HEADER:
            base = get("gpu-table--header")
        extra = Style()
        if hover and row != HEADER:
            extra += get("gpu-table--hover")
        if cursor:
            extra += get("gpu-table--cursor")
        post = Style.from_color(color=extra.color)
        pad = " " * PADDING
        segments: list[Segment] = []
        used = 0
        for column_index, (column, column_width) in enumerate(self.layout_columns):
            if index is None:
                text, style = column.label, Style()
            else:
                text, style = self.shown.get((index, column.key), ("", Style()))
            pre = base + Style.from_meta({"row": row, "column": column_index}) + extra
            inner = column_width
            if column.right and cell_len(text) < inner:
                text = " " * (inner - cell_len(text)) + text
            text = set_cell_size(text, inner)
            edge = pre + post
            text_style = pre + style + post
            if text_style == edge:
                segments.append(Segment(pad + text + pad, edge))
            else:
                segments += [Segment(pad, edge), Segment(text, text_style), Segment(pad, edge)]
            used += column_width + 2 * PADDING
        rest = base + extra + Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(0, width - used), rest))
        return Strip(segments).adjust_cell_length(width, base).simplify()

    # -- cursor, keys and mouse -----------------------------------------------

    def set_cursor(self, row: int) -> None:
        """Move the cursor to ``row`` (clamped) and scroll it into view."""
        if not self.order:
            return
        self.cursor = max(0, min(row, self.row_count - 1))
        self.hover = None
        self.refresh()
        self.scroll_to_region(Region(0, self.cursor + 1, self.size.width, 1), spacing=Spacing(1, 0, 0, 0),
                              animate=False, force=True)

    def action_move_cursor(self, rows: int) -> None:
        self.set_cursor(self.cursor + rows)

    def action_move_page(self, direction: int) -> None:
        self.set_cursor(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_first_device(self) -> None:
        self.set_cursor(0)

    def action_last_device(self) -> None:
        self.set_cursor(self.row_count - 1)

    def action_select_device(self) -> None:
        if self.selected_index is not None:
            self.post_message(self.DeviceSelected(self.selected_index))

    def row_at(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return None
        row = offset.y - 1 + int(self.scroll_y)
        return row if row < self.row_count else None

    def on_click(self, event: events.Click) -> None:
        row = self.row_at(event)
        if row is None:
            return
        if row == self.cursor:
            self.action_select_device()
        else:
            self.set_cursor(row)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        row = self.row_at(event)
        if row != self.hover:
            self.hover = row
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self.hover is not None:
            self.hover = None
            self.refresh()
