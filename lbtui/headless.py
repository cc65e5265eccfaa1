"""The headless log: plain lines for pipes, CI logs and ``--headless``.

A status line per device every ``--refresh`` seconds, and each event (steal,
stall, death, retry, failure, control) as soon as it happens. Reads only
snapshots, like the dashboard.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from virnucpro_bridge.control import SnapshotSource
from virnucpro_bridge.snapshot import DeviceView, RunEvent, RunSnapshot

EVENT_POLL_S = 0.2  # how soon an event is printed after it happens


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def num(value: float | None, fmt: str = "{:.1f}", dash: str = "-") -> str:
    return dash if value is None else fmt.format(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def device_line(d: DeviceView) -> str:
    label = d.label
    unit = ""
    if d.current_unit:
        unit = f"  unit {d.current_unit}"
        if d.current_progress is not None:
            unit += f" {d.current_progress:.0%}"
    return (f"{label:<6} {d.state:<9} util {num(d.utilization, '{:.0f}%'):>4}  "
            f"mem {num(d.memory, '{:.1f}%'):>6}  {num(d.throughput, '{:.1f}'):>7} seq/s  "
            f"queue {d.queue_depth:>3}  done {d.units_done:>4}  stolen {d.stolen_in}/{d.stolen_out}{unit}")


def run_line(s: RunSnapshot) -> str:
    done = s.units_done + s.units_skipped
    failed = f", {s.units_failed} failed" if s.units_failed else ""
    return (f"run    {done}/{s.units_total} units{failed}, {s.sequences_done:,} seqs, "
            f"{num(s.throughput)} seq/s, elapsed {duration(s.elapsed)}, ETA {duration(s.eta)}, "
            f"steals {s.steals_total}")


def event_line(e: RunEvent, labels: dict[int, str]) -> str:
    if e.steal is not None:
        st = e.steal
        thief, victim = labels.get(st.thief, str(st.thief)), labels.get(st.victim, str(st.victim))
        return f"{clock(e.time)} steal  {thief} <- {victim}  {st.unit}  ({st.sequences:,} seqs)"
    return f"{clock(e.time)} {e.kind:<6} {e.message}"


def summary_lines(s: RunSnapshot) -> list[str]:
    summary = s.summary or {}
    lines = [f"finished: {summary.get('files_done', s.units_done)}/{summary.get('files_total', s.units_total)} units, "
             f"{summary.get('files_failed', s.units_failed)} failed, {summary.get('sequences', s.sequences_done):,} seqs, "
             f"{summary.get('steals', s.steals_total)} steals, makespan {summary.get('makespan_s', 0):.2f} s",
             f"results in {s.out_dir}"]
    lines += [f"notice: {n}" for n in s.notices]
    return lines


def follow(source: SnapshotSource, *, refresh: float = 2.0, out: TextIO | None = None,
           done: Callable[[], bool] | None = None) -> RunSnapshot:
    """Print until the run is finished; returns the last snapshot."""
    out = out or sys.stdout
    last_seq = 0
    next_status = 0.0
    while True:
        snap = source.snapshot()
        labels = {d.index: d.label for d in snap.devices}
        for event in snap.events:
            if event.seq > last_seq:
                print(event_line(event, labels), file=out, flush=True)
                last_seq = event.seq
        now = time.monotonic()
        if snap.finished or (done is not None and done()):
            snap = source.snapshot()
            for event in snap.events:
                if event.seq > last_seq:
                    print(event_line(event, labels), file=out, flush=True)
            for d in snap.devices:
                print(f"{clock(snap.time)} {device_line(d)}", file=out)
            for line in summary_lines(snap):
                print(line, file=out, flush=True)
            return snap
        if now >= next_status:
            next_status = now + refresh
            stamp = clock(snap.time)
            for d in snap.devices:
                print(f"{stamp} {device_line(d)}", file=out)
            print(f"{stamp} {run_line(snap)}", file=out, flush=True)
        time.sleep(min(EVENT_POLL_S, refresh))
