"""The timeline: one lane per device, a bar per unit, marks for what went wrong.

Bars need the manifest's ``started``/``ended`` times; without them there is
no timeline (the page says so). A resumed run's
sessions are bands side by side with the gaps between them as breaks
(``scale.py``); each unit is drawn in the band of the session that ran it.
"""

from __future__ import annotations

from collections.abc import Callable

from virnucpro_bridge.runfiles.reader import RunFolder

from .scale import WIDTH, TimeScale
from .stats import Interval
from .svg import clock, esc, f, svg_open

TOP = 22  # the run-wide strip (stealing off, stops) above the lanes
BANDS = 16  # the sessions' names above that strip, when there are several
LANE, BAR = 26, 18
MARK_KINDS = {"failure": "fail", "retry": "retry", "death": "death", "stall": "stall"}
MIN_BAR = 0.6  # px: a tiny unit still shows as a hairline
GAP = 0.8  # px between back-to-back bars; none on bars too thin to spare it


def gantt(rf: RunFolder, scale: TimeScale, spans: list[Interval]) -> str | None:
    timed = [(u, u.started, u.ended) for u in rf.units if u.started is not None and u.ended is not None]
    if not timed:
        return None
    top = TOP + (BANDS if len(scale.bands) > 1 else 0)
    lanes = {d.index: i for i, d in enumerate(rf.devices)}
    height = top + LANE * len(lanes) + 34
    x = scale.x

    def lane_y(index: int) -> float:
        return top + LANE * lanes[index]

    bottom = top + LANE * len(lanes)
    left, right = scale.left, scale.left + scale.width
    out = [svg_open(WIDTH, height, "timeline of units per device"),
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3e6c8"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#b08a3c" stroke-width="2"/></pattern></defs>']
    out += scale.labels(12)
    out += scale.axis(top, bottom)
    out.append(f'<text x="{left - 8}" y="{top - 8}" text-anchor="end" class="muted">run</text>')
    for d in rf.devices:
        y = lane_y(d.index)
        out.append(f'<text x="{left - 8}" y="{f(y + LANE / 2 + 4)}" text-anchor="end">{esc(d.label)}</text>')
        out.append(f'<line x1="{left}" y1="{f(y + LANE)}" x2="{f(right)}" y2="{f(y + LANE)}" class="lane"/>')
    for iv in spans:
        cls = {"paused": "pz", "draining": "dr", "stealing off": "so"}[iv.what]
        zero = scale.origin(iv.start)
        tip = f"<title>{esc(iv.what)} {clock(iv.start - zero)} – {clock(iv.end - zero)}</title>"
        if iv.device is None:
            y, h = top - TOP + 4, TOP - 10
        elif iv.device in lanes:
            y, h = lane_y(iv.device), LANE
        else:
            continue
        out.append(f'<rect x="{f(x(iv.start))}" y="{f(y)}" width="{f(max(1.0, x(iv.end) - x(iv.start)))}" '
                   f'height="{f(h)}" class="{cls}">{tip}</rect>')
    for u, started, ended in timed:
        if u.device_index not in lanes:
            continue
        cls = "u" + (" st" if u.stolen else "") + (" sp" if u.split_from else "")
        x0, y = x(started), lane_y(u.device_index) + (LANE - BAR) / 2
        w = x(ended) - x0
        w = w - GAP if w >= 3 * GAP else max(MIN_BAR, w)  # neighbours apart, when there is room
        tip = (f"{u.uid} · {u.sequences:,} seq · {u.seconds:.2f} s" + (" · stolen" if u.stolen else "")
               + (f" · split from {u.split_from}" if u.split_from else "")
               + (f" · attempt {u.attempt}" if u.attempt > 1 else ""))
        out.append(f'<rect x="{f(x0)}" y="{f(y)}" width="{f(w)}" height="{BAR}" class="{cls}">'
                   f'<title>{esc(tip)}</title></rect>')
        if u.attempt > 1:  # a strip under the bar: an outline would swamp 1-px bars
            out.append(f'<rect x="{f(x0)}" y="{f(y + BAR)}" width="{f(w)}" height="3" class="rt"/>')
    out += _marks(rf, scale, lanes, lane_y, top, bottom)
    out.append("</svg>")
    return "".join(out)


def _marks(rf: RunFolder, scale: TimeScale, lanes: dict[int, int], lane_y: Callable[[int], float], top: float,
           bottom: float) -> list[str]:
    """A triangle on the lane for failures, retries, deaths and stalls; a line for a stop."""
    out = []
    x = scale.x
    for e in rf.events:
        tip = f"<title>{clock(e.time - scale.origin(e.time))} {esc(e.message)}</title>"
        if e.kind == "control" and e.action == "stop":
            out.append(f'<line x1="{f(x(e.time))}" y1="{f(top - 12)}" x2="{f(x(e.time))}" y2="{f(bottom)}" '
                       f'class="stop">{tip}</line>')
        elif e.kind in MARK_KINDS and e.device in lanes:
            cx, y = x(e.time), lane_y(e.device) + 1
            out.append(f'<path d="M{f(cx - 5)} {f(y)}h10l-5 9z" class="mk {MARK_KINDS[e.kind]}">{tip}</path>')
    return out
