"""Rebuild a run's sessions from what its folder holds, killed sessions included.

Each session's own end line in ``sessions.jsonl`` (or, where that file is gone,
summary.json's ``sessions``) gives its exact figures. A session without one was
killed (or still runs): it is rebuilt from its start line, its manifest rows and
its events, which carry its ``run_id``. ``sessions.py`` holds the types and what
the runner writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sessions import (
    KILLED,
    RUNNING,
    SESSIONS,
    Session,
    SessionDevice,
    as_opt,
    as_str,
    as_time,
    session_from_record,
)


@dataclass
class _Seen:
    """What a session left behind, gathered before it becomes a Session."""

    run_id: str
    start: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] | None = None
    first: float | None = None
    last: float | None = None
    rows: list[Any] = field(default_factory=list)  # manifest entries, duck-typed (see sessions())

    def saw(self, t: float | None) -> None:
        if t:
            self.first = t if self.first is None else min(self.first, t)
            self.last = t if self.last is None else max(self.last, t)


def read_lines(out: Path) -> list[dict[str, Any]]:
    """sessions.jsonl's whole lines (a torn or foreign line is skipped)."""
    lines = []
    try:
        with open(out / SESSIONS, encoding="utf-8", errors="replace") as fh:
            for text in fh:
                try:
                    raw = json.loads(text)
                except ValueError:
                    continue
                if isinstance(raw, dict) and isinstance(raw.get("run_id"), str):
                    lines.append(raw)
    except OSError:
        pass
    return lines


def sessions(out: Path, *, run: Mapping[str, Any], summary: Mapping[str, Any] | None, rows: Iterable[Any],
             events: Iterable[Any] = (), live: str | None = None) -> list[Session]:
    """Every session of the run in ``out``, oldest first. ``rows``: manifest entries
    (with ``run_id``, ``started``, ``ended``, ``device_index``, ``device``, ``sequences``,
    ``seconds``), ``events`` (with ``run_id``, ``time``), both as the reader reads them;
    ``live``: the run_id of a session known to be running now."""
    seen: dict[str, _Seen] = {}

    def get(run_id: str) -> _Seen:
        if run_id not in seen:
            seen[run_id] = _Seen(run_id)
        return seen[run_id]

    for rec in _summary_records(summary):
        get(rec["run_id"]).end = dict(rec)
    for line in read_lines(out):
        s = get(line["run_id"])
        if line.get("session") == "start":
            s.start = line
        elif line.get("session") == "end":
            s.end = line
    for row in rows:
        s = get(row.run_id)
        s.rows.append(row)
        s.saw(row.started)
        s.saw(row.ended)
    for ev in events:
        if ev.run_id:
            get(ev.run_id).saw(ev.time)
    current = run_id if isinstance(run_id := run.get("run_id"), str) else ""
    if run:
        s = get(current)
        s.start = {**_run_json_start(run), **s.start}
    return sorted((_session(s, live) for s in seen.values()),
                  key=lambda x: (x.started if x.started is not None else float("inf"), x.run_id))


def _session(s: _Seen, live: str | None) -> Session:
    if s.end is not None:
        return session_from_record(s.end, s.start)
    by_device: dict[int, list[Any]] = {}
    for r in s.rows:
        by_device.setdefault(r.device_index, []).append(r)
    named = {int(d["index"]): d for d in s.start.get("devices") or [] if isinstance(d, Mapping)
             and isinstance(d.get("index"), int)}
    devices = tuple(SessionDevice(
        index=i, name=as_str((named.get(i) or {}).get("name")) or (mine[-1].device if mine else ""),
        kind=as_str((named.get(i) or {}).get("kind")), units=len(mine), sequences=sum(r.sequences for r in mine),
        busy_s=sum(float(r.seconds) for r in mine), stolen_in=sum(1 for r in mine if r.stolen),
        weight=as_time((named.get(i) or {}).get("weight")),
    ) for i in sorted(set(named) | set(by_device)) for mine in [by_device.get(i, [])])
    timed = [r for r in s.rows if r.started and r.ended]
    started = as_time(s.start.get("started_epoch"))
    first = min(t for t in (started, s.first) if t is not None) if (started or s.first) else None
    return Session(
        run_id=s.run_id, started=first, ended=s.last, end=RUNNING if s.run_id == live else KILLED,
        host=as_opt(s.start.get("host")), pid=as_time(s.start.get("pid"), int),
        slurm_job_id=as_opt(s.start.get("slurm_job_id")), units=len(s.rows),
        sequences=sum(r.sequences for r in s.rows), devices=devices,
        makespan_s=max(r.ended for r in timed) - min(r.started for r in timed) if timed else None,
    )


def _run_json_start(run: Mapping[str, Any]) -> dict[str, Any]:
    """run.json's word on its session's start (its host and Slurm job id when it has them)."""
    job = run.get("slurm_job")  # SLURM_JOB_ID, when run.json records it
    return {"started_epoch": run.get("start_epoch"), "host": run.get("host"),
            "pid": run.get("main_pid"), "slurm_job_id": job,
            "devices": [{"index": d.get("index"), "name": d.get("device") or d.get("name"), "kind": d.get("kind"),
                         "weight": d.get("weight")} for d in run.get("devices") or [] if isinstance(d, Mapping)]}


def _summary_records(summary: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The ``sessions`` summary.json repeats: end lines for a folder whose sessions.jsonl is gone."""
    listed = (summary or {}).get("sessions")
    return [r for r in listed if isinstance(r, Mapping) and isinstance(r.get("run_id"), str)] \
        if isinstance(listed, list) else []

