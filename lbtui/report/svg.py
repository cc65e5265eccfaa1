"""Small SVG building blocks: escaping, nice axis ticks, time labels, device colours."""

from __future__ import annotations

import math
from html import escape

# Okabe–Ito (colour-blind safe), its yellow swapped for Tol's wine: yellow vanishes on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#882255", "#000000")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def left_margin(names: list[str]) -> int:
    """Room for the longest device name at 11 px (about 6.5 px a character), so the
    timeline's lanes and the charts' plot areas line up."""
    longest = max((len(n) for n in names), default=4)
    return int(min(260, max(70, 6.5 * longest + 16)))


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def f(x: float) -> str:
    """Coordinates with one decimal: enough on screen, a third of the bytes of repr()."""
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def nice_step(span: float, target: int, steps: tuple[float, ...] = (1, 2, 2.5, 5, 10)) -> float:
    """A round tick step giving about ``target`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / max(1, target)
    mag: float = 10 ** math.floor(math.log10(raw))  # an int from 1 up (ticks print as such)
    return next((s * mag for s in steps if s * mag >= raw), 10 * mag)


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_step(span: float, target: int = 8) -> float:
    raw = span / max(1, target)
    return next((s for s in _TIME_STEPS if s >= raw), nice_step(span, target))


def clock(seconds: float) -> str:
    """Elapsed time as 45 s, 12:30 (m:ss) or 2:05:00 (h:mm:ss)."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or x == int(x) else f"{x:.3g}"


def time_axis(x0: float, width: float, y_top: float, y_bottom: float, span: float,
              step: float | None = None) -> list[str]:
    """Vertical grid lines and elapsed-time labels under ``y_bottom``, every ``step`` s
    (default: about 8 over the span)."""
    out = []
    step = step or time_step(span)
    t = 0.0
    while t <= span + 1e-9:
        x = x0 + width * (t / span if span else 0)
        out.append(f'<line x1="{f(x)}" y1="{f(y_top)}" x2="{f(x)}" y2="{f(y_bottom)}" class="grid"/>')
        out.append(f'<text x="{f(x)}" y="{f(y_bottom + 14)}" text-anchor="middle">{clock(t)}</text>')
        t += step
    return out


def value_axis(x0: float, x1: float, y_top: float, y_bottom: float, top: float, unit: str) -> list[str]:
    """Horizontal grid lines and value labels left of ``x0`` for 0..``top``."""
    out = []
    step = nice_step(top, 4)
    v = 0.0
    while v <= top + 1e-9:
        y = y_bottom - (y_bottom - y_top) * (v / top if top else 0)
        out.append(f'<line x1="{f(x0)}" y1="{f(y)}" x2="{f(x1)}" y2="{f(y)}" class="grid"/>')
        out.append(f'<text x="{f(x0 - 6)}" y="{f(y + 4)}" text-anchor="end">{number(v)}{unit}</text>')
        v += step
    return out


def svg_open(width: int, height: int, label: str) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page then holds no URL at all.
    return (f'<svg viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(label)}" {FONT}>')
