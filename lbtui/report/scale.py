"""The time axis of a run done in sessions: each session a band, the gaps between them breaks.

A resumed run may have sessions of an hour separated by a day in the queue. A
linear axis would draw the day and squeeze the work into slivers, so each
session gets a band as wide as its share of the sessions' time (never narrower
than MIN_BAND), and each gap between two sessions a fixed-width break labelled
with its length. A run of one session is one band: the plain linear axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .svg import clock, esc, f, left_margin, time_axis, time_step

WIDTH, RIGHT = 1200, 16  # every figure's width, and its margin right of the plot
GAP = 64  # px for each gap between sessions: room for its label ("26:13:00")
MIN_BAND = 48  # px: a session of seconds beside one of hours stays visible


@dataclass(frozen=True)
class Band:
    start: float  # epoch seconds
    end: float
    x0: float
    x1: float
    label: str  # "session 2"
    tip: str  # the tooltip: when and how it ended


class TimeScale:
    """Maps epoch seconds onto x in [left, left + width]."""

    def __init__(self, windows: list[tuple[float, float, str, str]], left: float, width: float) -> None:
        """``windows``: (start, end, label, tip) per session, oldest first; overlapping ones
        (clocks of different hosts) share a band."""
        merged: list[list[Any]] = []
        for start, end, label, tip in sorted(windows, key=lambda w: w[0]):
            end = max(end, start)
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
                merged[-1][2] += f" + {label}"
                merged[-1][3] += f"\n{tip}"
            else:
                merged.append([start, end, label, tip])
        self.left, self.width = left, width
        room = width - GAP * (len(merged) - 1)
        widths = _shares([max(w[1] - w[0], 1e-6) for w in merged], room)
        bands, x = [], left
        for (start, end, label, tip), w in zip(merged, widths, strict=True):
            bands.append(Band(start, end, x, x + w, label, tip))
            x += w + GAP
        self.bands: list[Band] = bands

    @property
    def start(self) -> float:
        return self.bands[0].start

    @property
    def end(self) -> float:
        return self.bands[-1].end

    def x(self, t: float) -> float:
        """x of ``t``; a time in a gap (or outside every band) sits on the nearest band edge."""
        for i, b in enumerate(self.bands):
            if t <= b.end or i == len(self.bands) - 1:
                if t < b.start:
                    return b.x0 if i == 0 or t - self.bands[i - 1].end > b.start - t else self.bands[i - 1].x1
                span = b.end - b.start
                return b.x0 + (b.x1 - b.x0) * (min(1.0, (t - b.start) / span) if span > 0 else 0.0)
        return self.left + self.width  # pragma: no cover - the loop always returns

    def origin(self, t: float) -> float:
        """The start of the session ``t`` falls in (or last before it): what its clock counts from."""
        begun = [b.start for b in self.bands if b.start <= t]
        return begun[-1] if begun else self.bands[0].start

    def band(self, t: float) -> int | None:
        """Index of the band holding ``t``; None in a gap or outside them."""
        for i, b in enumerate(self.bands):
            if b.start <= t <= b.end:
                return i
        return None

    def axis(self, y_top: float, y_bottom: float) -> list[str]:
        """Grid lines and time labels per band (time since its session began), and the gaps."""
        out: list[str] = []
        for b in self.bands:
            ticks = max(1, int((b.x1 - b.x0) / 110))
            span = max(b.end - b.start, 1e-6)
            out += time_axis(b.x0, b.x1 - b.x0, y_top, y_bottom, span, time_step(span, ticks))
        for left, right in zip(self.bands, self.bands[1:], strict=False):
            out.append(f'<rect x="{f(left.x1)}" y="{f(y_top)}" width="{GAP}" height="{f(y_bottom - y_top)}" '
                       f'class="gap"><title>{esc("not running for " + clock(right.start - left.end))}</title></rect>')
            out.append(f'<text x="{f(left.x1 + GAP / 2)}" y="{f((y_top + y_bottom) / 2 + 4)}" '
                       f'text-anchor="middle" class="gapl">{esc(clock(right.start - left.end))}</text>')
        return out

    def labels(self, y: float) -> list[str]:
        """Each band's name over it (several sessions only), its tooltip saying when and how it ended."""
        if len(self.bands) < 2:
            return []
        out = []
        for b in self.bands:
            short = b.label if b.x1 - b.x0 >= 6.5 * len(b.label) + 8 else b.label.rsplit(" ", 1)[-1]
            out.append(f'<text x="{f(b.x0 + 2)}" y="{f(y)}" class="band">{esc(short)}'
                       f"<title>{esc(b.tip)}</title></text>")
        return out


def _shares(lengths: list[float], room: float) -> list[float]:
    """Widths in proportion to ``lengths`` summing to ``room``, none under MIN_BAND (when it fits)."""
    floor = min(MIN_BAND, room / len(lengths))
    fixed: dict[int, float] = {}
    while True:
        free = room - floor * len(fixed)
        rest = {i: v for i, v in enumerate(lengths) if i not in fixed}
        total = sum(rest.values())
        widths = {i: free * v / total for i, v in rest.items()}
        small = {i for i, w in widths.items() if w < floor}
        if not small:
            return [fixed.get(i, widths.get(i, floor)) for i in range(len(lengths))]
        fixed.update(dict.fromkeys(small, floor))


def run_scale(windows: list[tuple[float, float, str, str]], labels: list[str]) -> TimeScale:
    """The scale every figure of the page shares, left of it room for the device labels
    (so the timeline's lanes and the charts' plot areas line up)."""
    left = left_margin(labels)
    return TimeScale(windows, left, WIDTH - left - RIGHT)
