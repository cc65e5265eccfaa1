"""The device table's columns: what each shows, how wide, and which give way first.

Which columns show depends on the table's width: each column has a rank, and
the most important ones that fit are kept, in their usual order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from virnucpro_bridge.control import snapshot as snap

from .. import format as fmt


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

PADDING = 1  # blank cells on each side of every column


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


def cell_text(
    key: str, view: snap.DeviceView, width: int, samples: Sequence[float | None], state: str
) -> tuple[str, str | None]:
    """The text and the name of the cell's own style (None: the row's) for one column of one device."""
    if key == "idx":
        return str(view.index), None
    if key == "name":
        return fmt.fit_start(fmt.device_name(view), width), None
    if key == "state":
        return fmt.state_text(view), f"state-{state}"
    if key == "util":
        level = fmt.util_level(view.utilization)
        if state in fmt.RESTING:
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
