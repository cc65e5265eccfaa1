"""The page's tables: devices (over the run or one session), the sessions, each session's facts.

Every string that came from the run folder goes through ``esc``.
"""

from __future__ import annotations

import time

from virnucpro_bridge.runfiles.reader import RunFolder
from virnucpro_bridge.runfiles.sessions import RUNNING, Session

from .stats import DeviceRow, Part, device_rows, lower_bound, makespan
from .svg import clock, esc

EXIT_MEANING = {0: "all done", 1: "some units failed", 2: "usage or input error", 3: "aborted",
                130: "interrupted"}
ENDED = {"finished": "finished", "failed": "finished with failures", "interrupted": "interrupted",
         "aborted": "aborted", "killed": "killed (no summary)", RUNNING: "still running"}


def when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch is not None else "unknown"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:,.2f} s" + (f" ({clock(seconds)})" if seconds >= 60 else "")


def fact(name: str, value: str) -> str:
    return f"<dt>{esc(name)}</dt><dd>{value}</dd>"


def ending(s: Session) -> str:
    """How a session ended, as a coloured badge: 'exit 130 interrupted'."""
    if s.exit_code is None:
        cls = "ok" if s.end == RUNNING else "warn"
        return f'<span class="status {cls}">{esc(ENDED.get(s.end, s.end))}</span>'
    cls = "ok" if s.exit_code == 0 else "warn" if s.exit_code in (1, 130) else "bad"
    return f'<span class="status {cls}">exit {esc(s.exit_code)}</span> {esc(ENDED.get(s.end, s.end))}'


def holder(s: Session) -> str:
    bits = [s.host or "", f"pid {s.pid}" if s.pid else "", f"Slurm job {s.slurm_job_id}" if s.slurm_job_id else ""]
    return " · ".join(b for b in bits if b) or "—"


def devices_table(rows: list[DeviceRow], note: str) -> str:
    head = ("<tr><th>device</th><th>name</th><th>kind</th><th class=n>weight</th><th class=n>units</th>"
            "<th class=n>failed</th><th class=n>sequences</th><th class=n>seq/s</th><th class=n>busy</th>"
            "<th class=n>idle</th><th class=n>stolen in</th><th class=n>stolen out</th><th>final state</th></tr>")
    body = []
    for r in rows:
        def n(v: object, fmt: str = "{:,}") -> str:
            return f"<td class=n>{esc(fmt.format(v)) if v is not None else '—'}</td>"
        busy = r.busy_pct
        rate = r.sequences / r.busy_s if r.busy_s and r.sequences else None
        body.append(f"<tr><td>{esc(r.label)}</td><td>{esc(r.name or '—')}</td><td>{esc(r.kind)}</td>"
                    f"{_weight(r)}{n(r.units)}{n(r.failed)}{n(r.sequences)}{n(rate, '{:,.1f}')}"
                    f"{n(busy, '{:.1f} %')}{n(None if busy is None else 100 - busy, '{:.1f} %')}"
                    f"{n(r.stolen_in)}{n(r.stolen_out)}<td>{esc(r.state or '—')}</td></tr>")
    return f"<table>{head}{''.join(body)}</table><p class=\"muted\">{note}</p>"


def _weight(r: DeviceRow) -> str:
    if r.weight is None and r.weights:
        return f"<td class=n>{esc(' / '.join(f'{w:g}' for w in r.weights))}</td>"
    return f"<td class=n>{esc(f'{r.weight:g}') if r.weight is not None else '—'}</td>"


def sessions_table(ps: list[Part]) -> str:
    """One row per session, oldest first, with the gap before each."""
    head = ("<tr><th>#</th><th>session</th><th>where</th><th>started</th><th>after a gap of</th><th>wall</th>"
            "<th>ended</th><th class=n>units</th><th class=n>sequences</th><th class=n>device time</th>"
            "<th class=n>seq/s</th></tr>")
    rows, last_end = [], None
    for p in ps:
        s = p.session
        gap = clock(p.start - last_end) if p.start is not None and last_end is not None else "—"
        span = makespan(p)
        rate = f"{s.sequences / span:,.1f}" if span and s.sequences else "—"
        wall = (p.end - p.start) if p.start is not None and p.end is not None else None
        rows.append(f"<tr><td>{p.number}</td><td><code>{esc(s.run_id or '—')}</code></td>"
                    f"<td>{esc(holder(s))}</td><td>{esc(when(p.start))}</td><td>{esc(gap)}</td>"
                    f"<td>{esc(clock(wall) if wall is not None else '—')}</td><td>{ending(s)}</td>"
                    f"<td class=n>{s.units:,}</td><td class=n>{s.sequences:,}</td>"
                    f"<td class=n>{esc(clock(s.device_s))}</td><td class=n>{rate}</td></tr>")
        last_end = p.end if p.end is not None else last_end
    note = ("wall: the session's start to its end (for a killed session, to the last thing it wrote); "
            "device time: its devices' time on units, added up; seq/s: its sequences ÷ its makespan.")
    return (f"<h2 id=sessions>Sessions</h2><table>{head}{''.join(rows)}</table>"
            f'<p class="muted">{esc(note)}</p>')


def session_section(rf: RunFolder, p: Part) -> str:
    """One session's own figures: when, where, how it ended, its makespan ÷ bound, its devices."""
    s = p.session
    span, bound = makespan(p), lower_bound(p.units)
    text = duration(span)
    if span and bound:
        text += f" · lower bound {bound:,.2f} s · <b>makespan ÷ lower bound = {span / bound:.3f}</b>"
    facts = [fact("session", f"<code>{esc(s.run_id or '—')}</code>"), fact("where", esc(holder(s))),
             fact("started", esc(when(p.start))), fact("ended", f"{esc(when(p.end))} · {ending(s)}"),
             fact("makespan", text),
             fact("units", esc(f"{s.units:,} done" + (f", {s.failed:,} failed" if s.failed else ""))),
             fact("sequences", esc(f"{s.sequences:,}, {s.steals:,} steals, {s.splits:,} splits"
                                   if s.recorded else f"{s.sequences:,}"))]
    if not s.recorded:
        facts.append(fact("figures", esc("rebuilt from its manifest lines: it wrote no summary")))
    rows = device_rows(rf, p)
    return (f'<h3 id="session-{p.number}">{esc(p.label.capitalize())}</h3><dl class="facts">{"".join(facts)}</dl>'
            + devices_table(rows, "busy = time on units ÷ this session's makespan."))
