"""A whole-run plot with axes: values on the left (with their unit), elapsed
time along the bottom, bars from zero.

Drawn with the public ``render`` API from plain strings (no plotting
dependency): block characters give eighth-of-a-row resolution, enough to
read a trend and a level, which is what the detail screen is for. Textual's
Sparkline starts at the minimum, which makes 97-100 % look like 0-100 %.
"""

from __future__ import annotations

from textual.reactive import reactive
from textual.widget import Widget

from .. import format as fmt

BARS = " ▁▂▃▄▅▆▇█"
TICKS = 4  # time labels along the bottom: start, end and evenly between


def columns(samples: list[tuple[float, float]], width: int) -> list[float]:
    """One value per column, placed by time: the mean of the samples that fall
    in a column, or the last value before it when none does (readings are
    levels that hold until the next one)."""
    if not samples:
        return []
    t0, span = samples[0][0], samples[-1][0] - samples[0][0]
    if span <= 0:
        return [samples[-1][1]] * width
    sums, counts = [0.0] * width, [0] * width
    for t, v in samples:
        k = min(width - 1, int((t - t0) / span * width))
        sums[k] += v
        counts[k] += 1
    out, last = [], samples[0][1]
    for total, n in zip(sums, counts, strict=True):
        last = total / n if n else last
        out.append(last)
    return out


def bar_lines(samples: list[tuple[float, float]], width: int, height: int, top: float) -> list[str]:
    """``height`` rows of bars, from zero up to ``top``."""
    cols = columns(samples, width)
    top = top or 1.0
    eighths = [max(0.0, min(1.0, v / top)) * height * 8 for v in cols]
    lines = []
    for row in range(height - 1, -1, -1):
        line = []
        for level in eighths:
            fill = level - row * 8
            line.append("█" if fill >= 8 else BARS[int(fill)] if fill >= 1 else " ")
        lines.append("".join(line).ljust(width))
    return lines


def value_label(value: float, unit: str) -> str:
    return f"{fmt.rate(value)}{unit}"


def time_axis(span: float, width: int) -> str:
    """Elapsed-time labels (m:ss) under a plot ``width`` columns wide covering ``span`` s."""
    line = [" "] * width
    for k in range(TICKS + 1):
        label = fmt.duration(span * k / TICKS)
        at = round((width - 1) * k / TICKS)
        at = min(max(0, at - (len(label) if k == TICKS else len(label) // 2 if k else 0) + (1 if k == TICKS else 0)),
                 width - len(label))
        if all(c == " " for c in line[max(0, at - 1): at + len(label) + 1]):
            line[at: at + len(label)] = label
    return "".join(line)


def plot_lines(samples: list[tuple[float, float]], width: int, height: int, *,
               ceiling: float | None, unit: str) -> list[str]:
    """The whole plot as text: a y axis with the top, middle and zero values,
    bars, an x axis and elapsed-time labels. Needs ``height`` >= 3."""
    if not samples or width < 12 or height < 3:
        return ["no samples yet"] if not samples else []
    values = [v for _, v in samples]
    top = ceiling or max(values) or 1.0
    labels = [value_label(top, unit), value_label(top / 2, unit), value_label(0.0, unit)]
    gutter = max(len(x) for x in labels) + 1
    plot_w, plot_h = width - gutter - 1, height - 2
    bars = bar_lines(samples, plot_w, plot_h, top)
    out = []
    for row, line in enumerate(bars):
        if row == 0:
            label = labels[0]
        elif row == plot_h - 1:
            label = labels[2]
        elif row == (plot_h - 1) // 2 and plot_h >= 3:
            label = labels[1]
        else:
            label = ""
        out.append(f"{label:>{gutter - 1}} ┤{line}")
    span = samples[-1][0] - samples[0][0]
    out.append(" " * (gutter - 1) + " └" + "─" * plot_w)
    out.append(" " * (gutter + 1) + time_axis(span, plot_w))
    return out


class Plot(Widget):
    """``samples`` are (epoch seconds, value) over the whole run."""

    DEFAULT_CSS = "Plot { height: 6; }"
    samples: reactive[tuple[tuple[float, float], ...]] = reactive(tuple)

    def __init__(self, *, unit: str = "", ceiling: float | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.unit = unit
        self.ceiling = ceiling

    def render(self) -> str:
        return "\n".join(plot_lines(list(self.samples), self.size.width, self.size.height,
                                    ceiling=self.ceiling, unit=self.unit))
