"""Numbers the page shows, derived from a loaded run folder (pure functions).

Lower bound on the makespan, from this session's manifest rows only:

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

from virnucpro_bridge.runfiles.reader import Event, RunFolder, UnitRow


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


@dataclass(frozen=True)
class Failure:
    unit: str
    error: str


def window(rf: RunFolder) -> tuple[float | None, float | None]:
    """(start, end) of this session in epoch seconds, from whatever recorded times exist."""
    s = rf.summary or {}
    starts = [t for t in (s.get("started_epoch"), rf.run.get("start_epoch")) if isinstance(t, (int, float))]
    ends = [t for t in (s.get("finished_epoch"),) if isinstance(t, (int, float))]
    ends += [u.ended for u in rf.session_units if u.ended is not None]
    ends += [e.time for e in rf.events] + [x.time for x in rf.samples]
    starts += [u.started for u in rf.session_units if u.started is not None]
    start = min(starts) if starts else None
    end = max(ends) if ends else None
    if start is not None and end is not None and end < start:
        end = start
    return start, end


def makespan(rf: RunFolder) -> float | None:
    """summary.json's makespan (first dispatch to last completion), else the same from unit times."""
    value = (rf.summary or {}).get("makespan_s")
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    timed = [u for u in rf.session_units if u.started is not None and u.ended is not None]
    if not timed:
        return None
    return max(u.ended for u in timed) - min(u.started for u in timed)  # type: ignore[operator]


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


def device_rows(rf: RunFolder) -> list[DeviceRow]:
    by_index = {d.get("index"): d for d in (rf.summary or {}).get("devices") or [] if isinstance(d, dict)}
    span = makespan(rf)
    stolen_out = _steal_counts(rf.events, "victim")
    rows = []
    for dev in rf.devices:
        mine = [u for u in rf.session_units if u.device_index == dev.index]
        s = by_index.get(dev.index, {})
        busy = s.get("busy_s") if isinstance(s.get("busy_s"), (int, float)) else sum(u.seconds for u in mine)
        rows.append(DeviceRow(
            index=dev.index, label=dev.label, name=dev.name, kind=dev.kind, weight=dev.weight, units=len(mine),
            failed=s.get("files_failed") if isinstance(s.get("files_failed"), int) else None,
            sequences=sum(u.sequences for u in mine),
            busy_pct=min(100.0, 100.0 * busy / span) if span else None,
            stolen_in=int(s.get("stolen_in", sum(u.stolen for u in mine))),
            stolen_out=s.get("stolen_out", stolen_out.get(dev.index, 0) if rf.events else None),
            state=s.get("final_state"),
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


def intervals(rf: RunFolder, end: float | None) -> list[Interval]:
    """Pause→resume and drain→drained per device, stealing off→on for the run;
    an interval still open at the end runs to ``end``."""
    open_: dict[tuple[int | None, str], float] = {}
    found: list[Interval] = []
    starts = {"pause": "paused", "drain": "draining", "stealing_off": "stealing off"}
    stops = {"resume": "paused", "drained": "draining", "stealing_on": "stealing off"}
    for e in rf.events:
        if e.kind != "control" or e.action is None:
            continue
        device = None if e.action.startswith("stealing") else e.device
        if e.action in starts:
            open_.setdefault((device, starts[e.action]), e.time)
        elif e.action in stops and (device, stops[e.action]) in open_:
            began = open_.pop((device, stops[e.action]))
            found.append(Interval(began, e.time, device, stops[e.action]))
    last = end if end is not None else (rf.events[-1].time if rf.events else None)
    if last is not None:
        found += [Interval(t, max(t, last), d, what) for (d, what), t in open_.items()]
    return found
