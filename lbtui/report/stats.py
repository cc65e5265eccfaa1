"""Numbers the page shows, derived from a loaded run folder (pure functions).

Lower bound on a session's makespan, from its own manifest rows:

    work(unit)    = its sequences (the manifest records no residues)
    speed(device) = Σ sequences ÷ Σ seconds over the units it finished
    LB            = max(Σ work ÷ Σ speed, largest unit ÷ fastest speed)

The first term is a perfectly balanced run, the second the one unit nobody
can split. Both use measured speeds, not the configured weights, so a wrong
weight does not move the bound. It is an estimate: when units differ in
sequence length, a device that drew long sequences looks slow, and the ratio
can dip just below 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from virnucpro_bridge.runfiles.reader import Event, RunFolder, UnitRow
from virnucpro_bridge.runfiles.sessions import Session


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    device: int | None  # None: the whole run
    what: str  # "paused" | "draining" | "stealing off"


@dataclass(frozen=True)
class DeviceRow:
    index: int
    label: str  # as the dashboard shows it: 'GPU0', 'SIM2'
    name: str  # the device's own name: 'NVIDIA H100 80GB HBM3', 'sim0'
    kind: str
    weight: float | None
    units: int
    failed: int | None
    sequences: int
    busy_pct: float | None
    stolen_in: int
    stolen_out: int | None
    state: str | None
    weights: tuple[float, ...] = ()  # over several sessions: each weight it had, when they differ
    busy_s: float | None = None  # seconds on units
    span_s: float | None = None  # what busy_pct is a share of: the makespan (summed over sessions)


@dataclass(frozen=True)
class Failure:
    unit: str
    error: str


@dataclass(frozen=True)
class Part:
    """One session of the run as the page shows it: its window and what happened in it."""

    number: int  # 1 for the first session
    session: Session
    start: float | None  # epoch seconds
    end: float | None
    units: list[UnitRow]  # the units it finished (the manifest's last line for each span)
    events: list[Event]
    summary: dict[str, Any] | None  # summary.json, when that describes this session (its exact figures)

    @property
    def label(self) -> str:
        return f"session {self.number}"


def parts(rf: RunFolder) -> list[Part]:
    """The run's sessions, oldest first, each with its units (by run_id), events (by run_id,
    else by time) and window. A folder with no session at all (nothing run yet) has none."""
    found = list(rf.sessions)
    if not found:
        return []
    described = _described(rf, found)
    starts = [s.started for s in found]
    out = []
    for i, session in enumerate(found):
        nxt = next((t for t in starts[i + 1:] if t is not None), None)
        units = [u for u in rf.units if u.run_id == session.run_id]
        events = [e for e in rf.events if e.run_id == session.run_id or (
            e.run_id is None and _within(e.time, session.started if i else None, nxt))]
        samples = [x.time for x in rf.samples if _within(x.time, session.started if i else None, nxt)]
        begins = [t for t in (session.started, *(u.started for u in units)) if t is not None]
        ends = [t for t in (session.ended, *(u.ended for u in units), *(e.time for e in events), *samples)
                if t is not None]
        start = min(begins) if begins else (min(ends) if ends else None)
        end = max(ends) if ends else start
        if start is not None and end is not None and end < start:
            end = start
        out.append(Part(i + 1, session, start, end, units, events, rf.summary if session is described else None))
    return out


def _within(t: float, start: float | None, stop: float | None) -> bool:
    return (start is None or t >= start) and (stop is None or t < stop)


def _described(rf: RunFolder, found: list[Session]) -> Session | None:
    """The session summary.json describes: the one it names."""
    s = rf.summary
    if s is None or not isinstance(s.get("run_id"), str):
        return None
    return next((x for x in found if x.run_id == s["run_id"]), None)


def window(rf: RunFolder) -> tuple[float | None, float | None]:
    """(start, end) of the whole run in epoch seconds: its first session's start, its last's end."""
    found = [p for p in parts(rf) if p.start is not None]
    if not found:
        return None, None
    return found[0].start, max(p.end for p in found if p.end is not None)


def makespan(part: Part) -> float | None:
    """The session's makespan (first dispatch to last completion) as it recorded it,
    else the same from its units' times."""
    value = (part.summary or {}).get("makespan_s")
    if not isinstance(value, (int, float)) or value <= 0:
        value = part.session.makespan_s
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    timed = [(u.started, u.ended) for u in part.units if u.started is not None and u.ended is not None]
    if not timed:
        return None
    return max(end for _, end in timed) - min(start for start, _ in timed)


def speeds(units: list[UnitRow]) -> dict[int, float]:
    seqs: dict[int, float] = {}
    secs: dict[int, float] = {}
    for u in units:
        seqs[u.device_index] = seqs.get(u.device_index, 0.0) + u.sequences
        secs[u.device_index] = secs.get(u.device_index, 0.0) + u.seconds
    return {d: seqs[d] / secs[d] for d in seqs if secs[d] > 0 and seqs[d] > 0}


def lower_bound(units: list[UnitRow]) -> float | None:
    rate = speeds(units)
    if not rate:
        return None
    total = sum(u.sequences for u in units)
    largest = max(u.sequences for u in units)
    return max(total / sum(rate.values()), largest / max(rate.values()))


def device_rows(rf: RunFolder, part: Part | None = None) -> list[DeviceRow]:
    """Per device: one session's figures, or (``part`` None) the run's, summed over its sessions."""
    if part is not None:
        return _session_rows(rf, part)
    per = [_session_rows(rf, p) for p in parts(rf)]
    if len(per) == 1:
        return per[0]
    rows: list[DeviceRow] = []
    for dev in rf.devices:
        mine = [r for rs in per for r in rs if r.index == dev.index]
        span = sum(r.span_s or 0.0 for r in mine)
        busy = sum(r.busy_s or 0.0 for r in mine)
        failed = [r.failed for r in mine if r.failed is not None]
        out = [r.stolen_out for r in mine if r.stolen_out is not None]
        names = list(dict.fromkeys(r.name for r in mine if r.name))
        weights = list(dict.fromkeys(r.weight for r in mine if r.weight is not None))
        rows.append(DeviceRow(
            index=dev.index, label=dev.label, name=" / ".join(names) or dev.name, kind=dev.kind,
            weight=weights[-1] if len(weights) == 1 else None, weights=tuple(weights),
            units=sum(r.units for r in mine), failed=sum(failed) if failed else None,
            sequences=sum(r.sequences for r in mine), busy_pct=min(100.0, 100.0 * busy / span) if span else None,
            stolen_in=sum(r.stolen_in for r in mine), stolen_out=sum(out) if out else None,
            state=mine[-1].state if mine else None, busy_s=busy, span_s=span,
        ))
    return rows


def _session_rows(rf: RunFolder, part: Part) -> list[DeviceRow]:
    if part.summary is not None:
        by_index = {d.get("index"): d for d in part.summary.get("devices") or [] if isinstance(d, dict)}
    else:
        by_index = {d.index: {"busy_s": d.busy_s, "files_failed": d.failed, "stolen_in": d.stolen_in,
                              "stolen_out": d.stolen_out, "final_state": d.state or None, "name": d.name}
                    for d in part.session.devices} if part.session.recorded else {}
    span = makespan(part)
    stolen_out = _steal_counts(part.events, "victim")
    own = {d.index: d for d in part.session.devices}  # the devices this session had, as it had them
    rows = []
    for dev in rf.devices:
        mine = [u for u in part.units if u.device_index == dev.index]
        if own and dev.index not in own and not mine:
            continue  # a device of another session
        s = by_index.get(dev.index, {})
        weight = own[dev.index].weight if dev.index in own and own[dev.index].weight is not None else dev.weight
        busy = given if isinstance(given := s.get("busy_s"), (int, float)) else sum(u.seconds for u in mine)
        rows.append(DeviceRow(
            index=dev.index, label=dev.label, name=s.get("name") or (own[dev.index].name if dev.index in own else "")
            or dev.name, kind=dev.kind, weight=weight,
            units=len(mine), failed=s.get("files_failed") if isinstance(s.get("files_failed"), int) else None,
            sequences=sum(u.sequences for u in mine),
            busy_pct=min(100.0, 100.0 * busy / span) if span else None,
            stolen_in=int(s.get("stolen_in", sum(u.stolen for u in mine))),
            stolen_out=s.get("stolen_out", stolen_out.get(dev.index, 0) if part.events else None),
            state=s.get("final_state"), busy_s=float(busy), span_s=span,
        ))
    return rows


def _steal_counts(events: list[Event], role: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for e in events:
        who = getattr(e, role)
        if e.kind == "steal" and who is not None:
            counts[who] = counts.get(who, 0) + 1
    return counts


def failures(rf: RunFolder) -> list[Failure]:
    """summary.json's failures and merge failures; without a summary, the failure events."""
    s = rf.summary
    if s is not None:
        found = [Failure(str(f.get("unit", "?")), str(f.get("error", ""))) for f in s.get("failures") or []
                 if isinstance(f, dict)]
        found += [Failure(str(f.get("file", "?")) + " (merging results)", str(f.get("error", "")))
                  for f in s.get("merge_failures") or [] if isinstance(f, dict)]
        return found
    return [Failure(e.unit or "?", e.message) for e in rf.events if e.kind == "failure"]


def intervals(events: list[Event], end: float | None) -> list[Interval]:
    """Pause→resume and drain→drained per device, stealing off→on for the run, from one
    session's ``events``; an interval still open at the end runs to ``end``."""
    open_: dict[tuple[int | None, str], float] = {}
    found: list[Interval] = []
    starts = {"pause": "paused", "drain": "draining", "stealing_off": "stealing off"}
    stops = {"resume": "paused", "drained": "draining", "stealing_on": "stealing off"}
    for e in events:
        if e.kind != "control" or e.action is None:
            continue
        device = None if e.action.startswith("stealing") else e.device
        if e.action in starts:
            open_.setdefault((device, starts[e.action]), e.time)
        elif e.action in stops and (device, stops[e.action]) in open_:
            began = open_.pop((device, stops[e.action]))
            found.append(Interval(began, e.time, device, stops[e.action]))
    last = end if end is not None else (events[-1].time if events else None)
    if last is not None:
        found += [Interval(t, max(t, last), d, what) for (d, what), t in open_.items()]
    return found
