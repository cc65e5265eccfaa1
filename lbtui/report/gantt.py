"""The timeline: one lane per device, a bar per unit, marks for what went wrong.

Bars need the manifest's ``started``/``ended`` times; an older run folder has
none, and then there is no timeline (the page says so). Units an earlier
session of a resumed run finished are not drawn: they did not run in this
session's time.
"""

from __future__ import annotations

from virnucpro_bridge.runfiles.reader import RunFolder

from .stats import Interval
from .svg import clock, esc, f, left_margin, svg_open, time_axis

WIDTH, RIGHT = 1200, 16
TOP = 22  # the run-wide strip (stealing off, stops) above the lanes
LANE, BAR = 26, 18
MARK_KINDS = {"failure": "fail", "retry": "retry", "death": "death", "stall": "stall"}
MIN_BAR = 0.6  # px: a tiny unit still shows as a hairline
GAP = 0.8  # px between back-to-back bars; none on bars too thin to spare it


def gantt(rf: RunFolder, start: float, end: float, spans: list[Interval]) -> str | None:
    timed = [u for u in rf.session_units if u.started is not None and u.ended is not None]
    if not timed:
        return None
    span = max(end - start, max(u.ended for u in timed) - start, 1e-6)  # type: ignore[operator]
    left = left_margin([d.label for d in rf.devices])
    inner = WIDTH - left - RIGHT
    lanes = {d.index: i for i, d in enumerate(rf.devices)}
    height = TOP + LANE * len(lanes) + 34

    def x(t: float) -> float:
        return left + inner * max(0.0, min(1.0, (t - start) / span))

    def lane_y(index: int) -> float:
        return TOP + LANE * lanes[index]

    bottom = TOP + LANE * len(lanes)
    out = [svg_open(WIDTH, height, "timeline of units per device"),
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3e6c8"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#b08a3c" stroke-width="2"/></pattern></defs>']
    out += time_axis(left, inner, TOP, bottom, span)
    out.append(f'<text x="{left - 8}" y="{TOP - 8}" text-anchor="end" class="muted">run</text>')
    for d in rf.devices:
        y = lane_y(d.index)
        out.append(f'<text x="{left - 8}" y="{f(y + LANE / 2 + 4)}" text-anchor="end">{esc(d.label)}</text>')
        out.append(f'<line x1="{left}" y1="{f(y + LANE)}" x2="{WIDTH - RIGHT}" y2="{f(y + LANE)}" class="lane"/>')
    for iv in spans:
        cls = {"paused": "pz", "draining": "dr", "stealing off": "so"}[iv.what]
        tip = f"<title>{esc(iv.what)} {clock(iv.start - start)} – {clock(iv.end - start)}</title>"
        if iv.device is None:
            y, h = 4, TOP - 10
        elif iv.device in lanes:
            y, h = lane_y(iv.device), LANE
        else:
            continue
        out.append(f'<rect x="{f(x(iv.start))}" y="{f(y)}" width="{f(max(1.0, x(iv.end) - x(iv.start)))}" '
                   f'height="{f(h)}" class="{cls}">{tip}</rect>')
    for u in timed:
        if u.device_index not in lanes:
            continue
        cls = "u" + (" st" if u.stolen else "") + (" sp" if u.split_from else "")
        x0, y = x(u.started), lane_y(u.device_index) + (LANE - BAR) / 2  # type: ignore[arg-type]
        w = x(u.ended) - x0  # type: ignore[arg-type]
        w = w - GAP if w >= 3 * GAP else max(MIN_BAR, w)  # neighbours apart, when there is room
        tip = (f"{u.uid} · {u.sequences:,} seq · {u.seconds:.2f} s" + (" · stolen" if u.stolen else "")
               + (f" · split from {u.split_from}" if u.split_from else "")
               + (f" · attempt {u.attempt}" if u.attempt > 1 else ""))
        out.append(f'<rect x="{f(x0)}" y="{f(y)}" width="{f(w)}" height="{BAR}" class="{cls}">'
                   f'<title>{esc(tip)}</title></rect>')
        if u.attempt > 1:  # a strip under the bar: an outline would swamp 1-px bars
            out.append(f'<rect x="{f(x0)}" y="{f(y + BAR)}" width="{f(w)}" height="3" class="rt"/>')
    out += _marks(rf, x, lanes, lane_y, bottom, start)
    out.append("</svg>")
    return "".join(out)


def _marks(rf: RunFolder, x, lanes: dict[int, int], lane_y, bottom: float, start: float) -> list[str]:
    """A triangle on the lane for failures, retries, deaths and stalls; a line for a stop."""
    out = []
    for e in rf.events:
        tip = f"<title>{clock(e.time - start)} {esc(e.message)}</title>"
        if e.kind == "control" and e.action == "stop":
            out.append(f'<line x1="{f(x(e.time))}" y1="{TOP - 12}" x2="{f(x(e.time))}" y2="{f(bottom)}" '
                       f'class="stop">{tip}</line>')
        elif e.kind in MARK_KINDS and e.device in lanes:
            cx, y = x(e.time), lane_y(e.device) + 1
            out.append(f'<path d="M{f(cx - 5)} {f(y)}h10l-5 9z" class="mk {MARK_KINDS[e.kind]}">{tip}</path>')
    return out
