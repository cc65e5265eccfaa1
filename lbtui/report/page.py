"""Assemble the report page: the run's header, its sessions, devices, where the time went,
timeline, charts, failures, and each session's own figures (a run resumed after an
interruption is one run in several sessions: the page describes the whole of it).

Every string that came from the run folder goes through ``esc``: file names,
error lines and messages are user data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from virnucpro_bridge.runfiles.reader import RunFolder, load
from virnucpro_bridge.runfiles.sessions import RUNNING, run_totals

from ..finished import live_session
from .charts import chart, legend
from .gantt import gantt
from .scale import TimeScale, run_scale
from .stats import Interval, Part, device_rows, failures, intervals, lower_bound, makespan, parts, window
from .style import CSS
from .svg import clock, esc
from .tables import ENDED, EXIT_MEANING, devices_table, duration, fact, session_section, sessions_table, when
from .work import work_table

LISTED = 200  # names listed per long list (split units); the rest counted


def build(out: Path) -> str:
    """The whole page for run folder ``out`` (raises InputError when it is not one)."""
    rf = load(out, live=live_session(out))
    ps = parts(rf)
    windows = [(p.start, p.end, p.label, _tip(p)) for p in ps if p.start is not None and p.end is not None]
    scale = run_scale(windows, [d.label for d in rf.devices]) if windows else None
    spans = [iv for p in ps for iv in intervals(p.events, p.end)]
    parts_ = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
              f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
              f"<title>lbtui report: {esc(out.name or out)}</title><style>{CSS}</style></head><body>",
              _header(rf, ps)]
    if len(ps) > 1:
        parts_.append(sessions_table(ps))
    parts_ += [_devices(rf, ps), work_table(rf), _timeline(rf, scale, spans), _charts(rf, scale), _failures(rf)]
    if len(ps) > 1:
        parts_.append("<h2 id=each-session>Each session</h2>" + "".join(session_section(rf, p) for p in ps))
    parts_.append(_splits(rf))
    parts_.append(f'<p class="muted">Written by lbtui report on {time.strftime("%Y-%m-%d %H:%M:%S")}.</p>'
                  "</body></html>\n")
    return "".join(parts_)


def _tip(p: Part) -> str:
    return f"{p.label} ({p.session.run_id}): {when(p.start)} to {when(p.end)}, {ENDED.get(p.session.end, '')}"


def _status(rf: RunFolder, ps: list[Part]) -> str:
    last = ps[-1] if ps else None
    s = last.summary if last is not None else None
    if s is None:
        if last is not None and last.session.end == RUNNING:
            return '<span class="status ok">running</span> the run is still going: the page shows it up to now'
        return '<span class="status warn">unfinished</span> no summary.json: the run was killed or is still running'
    code = s.get("exit_code")
    meaning = EXIT_MEANING.get(code, "") if isinstance(code, int) else ""
    if s.get("interrupted"):
        meaning = "interrupted"
    cls = "ok" if code == 0 else "warn" if code in (1, 130) or s.get("interrupted") else "bad"
    text = f'<span class="status {cls}">exit {esc(code)}</span> {esc(meaning)}'
    if s.get("internal_error"):
        text += f' · <span class="status bad">internal error</span> <code>{esc(s["internal_error"])}</code>'
    return text


def _header(rf: RunFolder, ps: list[Part]) -> str:
    s, run = rf.summary or {}, rf.run
    start, end = window(rf)
    last = ps[-1] if ps else None
    facts = [fact("status", _status(rf, ps)), fact("task", esc(run.get("task") or s.get("task") or "unknown"))]
    if rf.inputs:
        facts.append(fact("inputs", "<br>".join(f"<code>{esc(p)}</code>" for p in rf.inputs)))
    if isinstance(run.get("argv"), list):
        facts.append(fact("command", f"<code>{esc(' '.join(str(a) for a in run['argv']))}</code>"))
    facts.append(fact("run folder", f"<code>{esc(run.get('out') or rf.path)}</code>"))
    if len(ps) > 1:
        facts.append(fact("sessions", f'{len(ps)} (<a href="#sessions">each below</a>); the latest '
                                      f"<code>{esc(ps[-1].session.run_id)}</code>"))
    elif run.get("run_id"):
        facts.append(fact("session", f"<code>{esc(run['run_id'])}</code>"))
    facts.append(fact("started", esc(when(start))))
    facts.append(fact("ended", esc(when(end)) if last is not None and last.summary is not None else
                      f"{esc(when(end))} (last thing recorded)" if end is not None else "unknown"))
    totals = run_totals(rf.sessions)
    if len(ps) == 1:
        facts.append(fact("makespan", _makespan(ps[0])))
    elif len(ps) > 1:
        facts.append(fact("time", esc(f"{duration(totals['wall_s'])} in {len(ps)} sessions, over "
                                      f"{duration(totals['span_s'])} from the first start to the last end "
                                      f"({clock(totals['gaps_s'])} between sessions)")))
    held = (f"{totals['gpu_hours']:,.2f} GPU-hours" if totals["gpu_hours"]
            else f"{totals['device_hours']:,.3f} device-hours")
    facts.append(fact("device time", esc(f"{duration(totals['device_s'])} on units, all devices added up; "
                                         f"{held} held (wall time × devices)")))
    facts.append(fact("units", esc(_units(rf, ps, s))))
    more = [f"{totals[k]:,} {k}" for k in ("steals", "splits")]
    facts.append(fact("sequences", esc(", ".join([f"{totals['sequences']:,}"] + more))))
    if s.get("notices"):
        facts.append(fact("notices", _list(s["notices"])))
    if rf.problems:
        facts.append(fact("reading this folder", _list(rf.problems)))
    return (f"<h1>lbtui report: {esc(rf.path.name or rf.path)}</h1>"
            f'<div class="sub">{esc(len(rf.devices))} device(s) · '
            f'task {esc(run.get("task") or s.get("task") or "?")}</div>'
            f'<dl class="facts">{"".join(facts)}</dl>')


def _makespan(p: Part) -> str:
    span, bound = makespan(p), lower_bound(p.units)
    if span is None:
        return "unknown"
    text = duration(span)
    if bound:
        text += (f" · lower bound {bound:,.2f} s · <b>makespan ÷ lower bound = {span / bound:.3f}</b>"
                 ' <span class="muted">(from measured per-device speeds; see docs/report.md)</span>')
    return text


def _units(rf: RunFolder, ps: list[Part], s: dict[str, Any]) -> str:
    done = sum(p.session.units for p in ps)
    counts = [f"{done:,} done" + (f" over {len(ps)} sessions ({' + '.join(f'{p.session.units:,}' for p in ps)})"
                                  if len(ps) > 1 else "")]
    for key, label in (("files_failed", "failed"), ("files_not_run", "not run")):
        if isinstance(s.get(key), int):
            counts.append(f"{s[key]:,} {label}")
    if len(ps) <= 1 and isinstance(s.get("files_skipped"), int) and s["files_skipped"]:
        counts.append(f"{s['files_skipped']:,} skipped")
    return ", ".join(counts)


def _list(items: list[str]) -> str:
    return '<ul class="notes">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def _devices(rf: RunFolder, ps: list[Part]) -> str:
    note = ("busy = time spent on units (failed attempts included when the summary has them) ÷ makespan; "
            "idle = the rest; seq/s = sequences ÷ busy time.")
    if len(ps) > 1:
        note = ("Over the whole run: each session's figures added up; busy = time on units ÷ the sessions' "
                "makespans; idle = the rest; seq/s = sequences ÷ busy time; final state: in the last session.")
    return f"<h2 id=devices>Devices</h2>{devices_table(device_rows(rf), esc(note))}"


def _swatch(cls: str, label: str, shape: str = "rect") -> str:
    body = ('<path d="M2 0h10l-5 9z" class="mk ' + cls + '"/>' if shape == "mark"
            else f'<line x1="7" y1="0" x2="7" y2="10" class="{cls}"/>' if shape == "line"
            else f'<rect width="14" height="10" class="{cls}"/>')
    return f'<span class="key"><svg viewBox="0 0 14 10" width="14" height="10">{body}</svg> {label}</span>'


def _timeline(rf: RunFolder, scale: TimeScale | None, spans: list[Interval]) -> str:
    title = "<h2 id=timeline>Timeline</h2>"
    fig = gantt(rf, scale, spans) if scale is not None else None
    if scale is None or fig is None:
        why = ("the manifest has no unit start and end times" if rf.units
               else "no unit has finished yet")
        return f'{title}<p class="muted">No timeline: {why}.</p>'
    keys = [_swatch("u", "unit"), _swatch("u st", "stolen"), _swatch("u sp", "split"),
            _swatch("rt", "retried (red strip: finished on a later attempt)"), _swatch("pz", "paused"),
            _swatch("dr", "draining"), _swatch("so", "stealing off"), _swatch("fail", "failure", "mark"),
            _swatch("retry", "retry", "mark"), _swatch("death", "worker died", "mark"),
            _swatch("stall", "stall", "mark"), _swatch("stop", "stop requested", "line")]
    if len(scale.bands) > 1:
        caption = (f"One band per session, the time between sessions drawn as a grey break labelled with its "
                   f"length; one lane per device, one bar per unit; time since each session started "
                   f"(the first: {esc(when(scale.start))}). Hover a bar for its unit.")
        keys.append(_swatch("gap", "not running (between sessions)"))
    else:
        caption = (f"One lane per device, one bar per unit; time since the session started "
                   f"({esc(when(scale.start))}). Hover a bar for its unit.")
    return (f"{title}<figure><figcaption>{caption}</figcaption>{fig}"
            f'<p class="legend">{"".join(keys)}</p></figure>')


def _charts(rf: RunFolder, scale: TimeScale | None) -> str:
    title = "<h2 id=metrics>Throughput and utilization</h2>"
    if not rf.samples or scale is None:
        return (f'{title}<p class="muted">No metrics: this run folder has no metrics.csv '
                'and no --metrics-log file was found.</p>')
    figs = []
    for field, unit, label, top in (("seq_per_s", "", "throughput (sequences/s)", None),
                                    ("util_pct", "%", "GPU utilization (%)", 100.0),
                                    ("mem_pct", "%", "GPU memory used (%)", 100.0)):
        svg = chart(rf.samples, rf.devices, field, scale, unit, label, top)
        figs.append(f"<figure><figcaption>{esc(label)}</figcaption>{svg}</figure>" if svg else
                    f'<p class="muted">{esc(label)}: not measured on these devices.</p>')
    src = f'<p class="muted">From <code>{esc(rf.metrics_source)}</code>.</p>'
    return title + legend(rf.devices) + "".join(figs) + src


def _failures(rf: RunFolder) -> str:
    found = failures(rf)
    title = "<h2 id=failures>Failures</h2>"
    body = "<p>None.</p>" if not found else (
        "<table><tr><th>unit</th><th>error</th></tr>"
        + "".join(f"<tr><td>{esc(f.unit)}</td><td class=err>{esc(f.error)}</td></tr>" for f in found) + "</table>")
    if rf.errors_total:
        shown = "".join(f"<details><summary><code>{esc(b.stamp)} {esc(b.where)}</code>: {esc(b.last_line)}</summary>"
                        f"<pre>{esc(b.text)}</pre></details>" for b in rf.errors)
        more = (f'<p class="muted">{rf.errors_total - len(rf.errors):,} more in errors.log.</p>'
                if rf.errors_total > len(rf.errors) else "")
        body += f"<h3>errors.log ({rf.errors_total:,} entries)</h3>{shown}{more}"
    return title + body


def _splits(rf: RunFolder) -> str:
    splits = [u for u in rf.units if u.split_from]
    if not splits:
        return ""
    names = ", ".join(f"{esc(u.uid)} (from {esc(u.split_from)})" for u in splits[:LISTED])
    more = f" and {len(splits) - LISTED:,} more" if len(splits) > LISTED else ""
    return f"<h2 id=splits>Split units</h2><p>{len(splits):,}: {names}{more}</p>"
