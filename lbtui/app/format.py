"""Plain-text formatting of snapshot values: no Textual, no Rich.

Every formatter takes ``None`` (a reading the engine does not have) and
returns ``DASH``, so no widget ever shows ``None`` or ``nan``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence

from virnucpro_bridge import snapshot as snap

DASH = "–"

# Utilization bands from the issue: green >= 80, yellow 50-80, red < 50.
UTIL_HIGH = 80.0
UTIL_MID = 50.0

# One icon per state: a row is told apart by shape as well as by colour and word.
# Narrow, non-emoji code points only, so every terminal gives them one cell.
STATE_ICONS = {
    snap.STARTING: "◌",
    snap.RUNNING: "▸",
    snap.IDLE: "·",
    snap.PAUSED: "‖",
    snap.DRAINING: "⇣",
    snap.DRAINED: "∅",
    snap.STALLED: "!",
    snap.DEAD: "✗",
    snap.DONE: "✓",
}


SPARK_BARS = " ▁▂▃▄▅▆▇█"  # index 0 (blank) marks a missing sample


def missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def count(value: int | None) -> str:
    """1234567 -> '1,234,567'."""
    return DASH if value is None else f"{value:,}"


def compact(value: float | None) -> str:
    """Large counts in four or five cells: 999, 12.3k, 4.56M, 7.1G."""
    if missing(value):
        return DASH
    v = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= limit:
            scaled = v / limit
            return f"{scaled:.1f}{suffix}" if scaled < 100 else f"{scaled:.0f}{suffix}"
    return f"{v:.0f}"


def rate(value: float | None) -> str:
    """Sequences per second: one decimal under 100, then whole numbers, then k/M."""
    if missing(value):
        return DASH
    if value < 100:
        return f"{value:.1f}"
    if value < 100_000:
        return f"{value:,.0f}"
    return compact(value)


def percent(value: float | None) -> str:
    return DASH if missing(value) else f"{value:.0f}"


def duration(seconds: float | None) -> str:
    """12 -> '0:12', 754 -> '12:34', 3754 -> '1:02:34', days as '2d 03:04'."""
    if missing(seconds):
        return DASH
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def clock(epoch: float | None) -> str:
    """Wall-clock time of day, local time: '12:03:07'."""
    return DASH if missing(epoch) else time.strftime("%H:%M:%S", time.localtime(epoch))


def util_level(value: float | None) -> str | None:
    """'high', 'mid' or 'low' for a utilization percent; None when missing."""
    if missing(value):
        return None
    if value >= UTIL_HIGH:
        return "high"
    if value >= UTIL_MID:
        return "mid"
    return "low"


def spark(samples: Sequence[float | None], width: int) -> str:
    """The last ``width`` samples as bar characters, scaled from 0 to their max.

    Missing samples are blank; a run of zeros is the lowest bar, so an idle
    device still shows a flat line rather than nothing.
    """
    tail = [None if missing(s) else s for s in list(samples)[-width:]]
    peak = max((s for s in tail if s is not None), default=0.0)
    bars = SPARK_BARS
    if peak <= 0:
        chars = [bars[0] if s is None else bars[1] for s in tail]
    else:
        top = len(bars) - 1
        ceil = math.ceil
        chars = [bars[0] if s is None else bars[max(1, ceil(s / peak * top))] for s in tail]
    return "".join(chars).rjust(width)


def fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells, keeping its end (unit names differ at the end)."""
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if width > 1 else text[:width]


def state_of(view: snap.DeviceView) -> str:
    """The state a person should see: a pause or stall request shows before the
    engine's state catches up (pause applies after the unit in flight)."""
    if view.stalled and view.state not in (snap.DEAD, snap.DONE):
        return snap.STALLED
    return view.state


def state_text(view: snap.DeviceView) -> str:
    state = state_of(view)
    if view.paused and state not in (snap.PAUSED, snap.DEAD, snap.DONE, snap.STALLED):
        return f"{STATE_ICONS[snap.PAUSED]} pausing"
    return f"{STATE_ICONS.get(state, '?')} {state}"


def current_unit(view: snap.DeviceView, width: int) -> str:
    if not view.current_unit:
        return DASH
    if missing(view.current_progress):
        return fit(view.current_unit, width)
    pct = f" {min(100, max(0, view.current_progress * 100)):.0f}%"
    return fit(view.current_unit, width - len(pct)) + pct


def join(parts: Iterable[str], sep: str = "  ") -> str:
    return sep.join(p for p in parts if p)
