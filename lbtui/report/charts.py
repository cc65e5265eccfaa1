"""Line charts over time, one line per device: throughput, utilization, memory."""

from __future__ import annotations

from virnucpro_bridge.runfiles.reader import Device, Sample

from .scale import WIDTH, TimeScale
from .svg import colour, esc, f, svg_open, value_axis

HEIGHT, TOP, BOTTOM = 190, 10, 28
MAX_POINTS = 1200  # per device and chart: about one per pixel; more only costs bytes


def chart(samples: list[Sample], devices: list[Device], field: str, scale: TimeScale,
          unit: str, label: str, top: float | None = None) -> str | None:
    """An SVG chart of ``field`` per device, or None when no device measured it. The line
    breaks where a reading is missing and between sessions."""
    series = {d.index: _points(samples, d.index, field) for d in devices}
    values = [v for pts in series.values() for _, v in pts if v is not None]
    if not values:
        return None
    top = top if top is not None else (max(values) * 1.1 or 1.0)
    left, y1 = scale.left, HEIGHT - BOTTOM

    def y(v: float) -> float:
        return y1 - (y1 - TOP) * min(1.0, max(0.0, v / top))

    out = [svg_open(WIDTH, HEIGHT, label)]
    out += value_axis(left, left + scale.width, TOP, y1, top, unit)
    out += scale.axis(TOP, y1)
    for d in devices:
        path, run, band = [], 0, None  # run: points in the current unbroken stretch
        for t, v in [*series[d.index], (scale.end, None)]:
            here = scale.band(t)
            if v is None or here is None or (run and here != band):
                if run == 1:
                    path.append("h1")  # a lone reading: a dot (round caps), not an invisible move
                run = 0
                if v is None or here is None:
                    continue
            path.append(f"{'L' if run else 'M'}{f(scale.x(t))} {f(y(v))}")
            run, band = run + 1, here
        if path:
            out.append(f'<path d="{"".join(path)}" fill="none" stroke="{colour(d.index)}" stroke-width="1.5" '
                       f'stroke-linecap="round">'
                       f'<title>{esc(d.label)}</title></path>')
    out.append("</svg>")
    return "".join(out)


def _points(samples: list[Sample], device: int, field: str) -> list[tuple[float, float | None]]:
    pts = [(s.time, getattr(s, field)) for s in samples if s.device == device]
    pts.sort(key=lambda p: p[0])
    if len(pts) <= MAX_POINTS:
        return pts
    # Equal-time buckets, each its mean: keeps the shape, drops what no screen can show.
    t0, t1 = pts[0][0], pts[-1][0]
    width = (t1 - t0) / MAX_POINTS or 1.0
    buckets: dict[int, list[float]] = {}
    times: dict[int, float] = {}
    for t, v in pts:
        b = min(MAX_POINTS - 1, int((t - t0) / width))
        times.setdefault(b, t)
        if v is not None:
            buckets.setdefault(b, []).append(v)
    return [(times[b], sum(buckets[b]) / len(buckets[b]) if b in buckets else None) for b in sorted(times)]


def legend(devices: list[Device]) -> str:
    """Device colours, as inline SVG swatches so they print (CSS backgrounds often do not)."""
    items = [f'<span class="key"><svg viewBox="0 0 14 10" width="14" height="10">'
             f'<rect width="14" height="10" fill="{colour(d.index)}"/></svg> {esc(d.label)}</span>'
             for d in devices]
    return '<p class="legend">' + " ".join(items) + "</p>"
