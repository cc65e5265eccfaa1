"""Assemble the report page: header, device table, where the time went, timeline, charts, failures.

Every string that came from the run folder goes through ``esc``: file names,
error lines and messages are user data.
"""

from __future__ import annotations

import time
from pathlib import Path

from virnucpro_bridge.runfiles.reader import RunFolder, load

from ..run_args import recorded_options
from .charts import chart, legend
from .gantt import gantt
from .stats import device_rows, failures, intervals, lower_bound, makespan, window
from .style import CSS
from .svg import clock, esc
from .work import work_table

EXIT_MEANING = {0: "all done", 1: "some units failed", 2: "usage or input error", 130: "interrupted"}
LISTED = 200  # names listed per long list (earlier-session units, split units); the rest counted


def build(out: Path) -> str:
    """The whole page for run folder ``out`` (raises InputError when it is not one)."""
    rf = load(out, recorded_options)
    start, end = window(rf)
    spans = intervals(rf, end)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>lbtui report: {esc(out.name or out)}</title><style>{CSS}</style></head><body>",
             _header(rf, start, end), _devices(rf), work_table(rf)]
    parts.append(_timeline(rf, start, end, spans))
    parts.append(_charts(rf, start, end))
    parts.append(_failures(rf))
    parts.append(_earlier(rf))
    parts.append(f'<p class="muted">Written by lbtui report on {time.strftime("%Y-%m-%d %H:%M:%S")}.</p>'
                 "</body></html>\n")
    return "".join(parts)


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch is not None else "unknown"


def _status(rf: RunFolder) -> str:
    s = rf.summary
    if s is None:
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


def _fact(name: str, value: str) -> str:
    return f"<dt>{esc(name)}</dt><dd>{value}</dd>"


def _header(rf: RunFolder, start: float | None, end: float | None) -> str:
    s, run = rf.summary or {}, rf.run
    units = rf.session_units
    span, bound = makespan(rf), lower_bound(units)
    facts = [_fact("status", _status(rf)), _fact("task", esc(run.get("task") or s.get("task") or "unknown"))]
    if rf.inputs:
        facts.append(_fact("inputs", "<br>".join(f"<code>{esc(p)}</code>" for p in rf.inputs)))
    if isinstance(run.get("argv"), list):
        facts.append(_fact("command", f"<code>{esc(' '.join(str(a) for a in run['argv']))}</code>"))
    facts.append(_fact("run folder", f"<code>{esc(run.get('out') or rf.path)}</code>"))
    if run.get("run_id"):
        facts.append(_fact("session", f"<code>{esc(run['run_id'])}</code>"))
    facts.append(_fact("started", esc(_when(start))))
    facts.append(_fact("ended", esc(_when(end)) if rf.summary is not None else
                       f"{esc(_when(end))} (last thing recorded)" if end is not None else "unknown"))
    if span is not None:
        text = f"{span:,.2f} s" + (f" ({clock(span)})" if span >= 60 else "")
        if bound:
            text += (f" · lower bound {bound:,.2f} s · <b>makespan ÷ lower bound = {span / bound:.3f}</b>"
                     ' <span class="muted">(from measured per-device speeds; see docs/report.md)</span>')
        facts.append(_fact("makespan", text))
    counts = [f"{len(units):,} done in this session"]
    for key, label in (("files_failed", "failed"), ("files_not_run", "not run"), ("files_skipped", "skipped")):
        if isinstance(s.get(key), int):
            counts.append(f"{s[key]:,} {label}")
    if len(units) != len(rf.units):
        counts.append(f"{len(rf.units) - len(units):,} from an earlier session")
    facts.append(_fact("units", esc(", ".join(counts))))
    seqs = sum(u.sequences for u in units)
    more = [f"{s[k]:,} {k}" for k in ("steals", "splits") if isinstance(s.get(k), int)]
    facts.append(_fact("sequences", esc(", ".join([f"{seqs:,}"] + more))))
    if s.get("notices"):
        facts.append(_fact("notices", _list(s["notices"])))
    if rf.problems:
        facts.append(_fact("reading this folder", _list(rf.problems)))
    return (f"<h1>lbtui report: {esc(rf.path.name or rf.path)}</h1>"
            f'<div class="sub">{esc(len(rf.devices))} device(s) · '
            f'task {esc(run.get("task") or s.get("task") or "?")}</div>'
            f'<dl class="facts">{"".join(facts)}</dl>')


def _list(items: list) -> str:
    return '<ul class="notes">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def _devices(rf: RunFolder) -> str:
    head = ("<tr><th>device</th><th>name</th><th>kind</th><th class=n>weight</th><th class=n>units</th>"
            "<th class=n>failed</th>"
            "<th class=n>sequences</th><th class=n>busy</th><th class=n>idle</th><th class=n>stolen in</th>"
            "<th class=n>stolen out</th><th>final state</th></tr>")
    rows = []
    for r in device_rows(rf):
        def n(v: object, fmt: str = "{:,}") -> str:
            return f"<td class=n>{esc(fmt.format(v)) if v is not None else '—'}</td>"
        busy = r.busy_pct
        rows.append(f"<tr><td>{esc(r.label)}</td><td>{esc(r.name or '—')}</td><td>{esc(r.kind)}</td>"
                    f"{n(r.weight, '{:g}')}{n(r.units)}{n(r.failed)}"
                    f"{n(r.sequences)}{n(busy, '{:.1f} %')}{n(None if busy is None else 100 - busy, '{:.1f} %')}"
                    f"{n(r.stolen_in)}{n(r.stolen_out)}<td>{esc(r.state or '—')}</td></tr>")
    note = ('<p class="muted">busy = time spent on units (failed attempts included when the summary has them) '
            "÷ makespan; idle = the rest. Units and sequences: this session's finished units.</p>")
    return f"<h2 id=devices>Devices</h2><table>{head}{''.join(rows)}</table>{note}"


def _swatch(cls: str, label: str, shape: str = "rect") -> str:
    body = ('<path d="M2 0h10l-5 9z" class="mk ' + cls + '"/>' if shape == "mark"
            else f'<line x1="7" y1="0" x2="7" y2="10" class="{cls}"/>' if shape == "line"
            else f'<rect width="14" height="10" class="{cls}"/>')
    return f'<span class="key"><svg viewBox="0 0 14 10" width="14" height="10">{body}</svg> {label}</span>'


def _timeline(rf: RunFolder, start: float | None, end: float | None, spans: list) -> str:
    title = "<h2 id=timeline>Timeline</h2>"
    fig = gantt(rf, start, end, spans) if start is not None and end is not None else None
    if fig is None:
        why = ("this run folder has no unit start and end times (made by an older lbtui)" if rf.session_units
               else "no unit finished in this session")
        return f'{title}<p class="muted">No timeline: {why}.</p>'
    keys = [_swatch("u", "unit"), _swatch("u st", "stolen"), _swatch("u sp", "split"),
            _swatch("rt", "retried (red strip: finished on a later attempt)"), _swatch("pz", "paused"),
            _swatch("dr", "draining"), _swatch("so", "stealing off"), _swatch("fail", "failure", "mark"),
            _swatch("retry", "retry", "mark"), _swatch("death", "worker died", "mark"),
            _swatch("stall", "stall", "mark"), _swatch("stop", "stop requested", "line")]
    earlier = len(rf.units) - len(rf.session_units)
    note = f" {earlier:,} unit(s) from an earlier session are not drawn." if earlier else ""
    return (f"{title}<figure><figcaption>One lane per device, one bar per unit; time since the session "
            f"started ({esc(_when(start))}). Hover a bar for its unit.{note}</figcaption>{fig}"
            f'<p class="legend">{"".join(keys)}</p></figure>')


def _charts(rf: RunFolder, start: float | None, end: float | None) -> str:
    title = "<h2 id=metrics>Throughput and utilization</h2>"
    if not rf.samples or start is None or end is None:
        return (f'{title}<p class="muted">No metrics: this run folder has no metrics.csv '
                'and no --metrics-log file was found.</p>')
    figs = []
    for field, unit, label, top in (("seq_per_s", "", "throughput (sequences/s)", None),
                                    ("util_pct", "%", "GPU utilization (%)", 100.0),
                                    ("mem_pct", "%", "GPU memory used (%)", 100.0)):
        svg = chart(rf.samples, rf.devices, field, start, end, unit, label, top)
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


def _earlier(rf: RunFolder) -> str:
    earlier = [u for u in rf.units if u.earlier]
    splits = [u for u in rf.session_units if u.split_from]
    out = ""
    if earlier:
        names = ", ".join(esc(u.uid) for u in earlier[:LISTED])
        more = f" and {len(earlier) - LISTED:,} more" if len(earlier) > LISTED else ""
        out += (f"<h2 id=earlier>From an earlier session</h2><p>{len(earlier):,} unit(s), "
                f"{sum(u.sequences for u in earlier):,} sequences, were finished by an earlier session "
                f"and kept on resume.</p><details><summary>units</summary><p>{names}{more}</p></details>")
    if splits:
        names = ", ".join(f"{esc(u.uid)} (from {esc(u.split_from)})" for u in splits[:LISTED])
        out += f"<h2 id=splits>Split units</h2><p>{len(splits):,}: {names}</p>"
    return out
