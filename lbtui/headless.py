"""The headless log: plain lines for pipes, CI logs and ``--headless``.

A status line per device every ``--refresh`` seconds, and each event (steal,
stall, death, retry, failure, control) as soon as it happens. Reads only
snapshots, like the dashboard. Names and messages from outside go through
``fmt.printable``: one event is one line, and none can drive the terminal.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from virnucpro_bridge.control import SnapshotSource
from virnucpro_bridge.control import snapshot as snap
from virnucpro_bridge.control.snapshot import DeviceView, RunEvent, RunSnapshot

from . import format as fmt

EVENT_POLL_S = 0.2  # how soon an event is printed after it happens


def device_line(d: DeviceView) -> str:
    """'SIM0   running   util  93%  mem  41%    182 seq/s  queue   6  done   31  stolen 3/0  unit a.fa 45%'."""
    unit = ""
    if d.current_unit:
        unit = f"  unit {fmt.printable(d.current_unit)}"
        if not fmt.missing(d.current_progress):
            unit += f" {fmt.percent(d.current_progress * 100)}%"
    return (f"{d.label:<6} {fmt.state_of(d):<9} util {fmt.with_unit(fmt.percent(d.utilization), '%'):>4}  "
            f"mem {fmt.with_unit(fmt.percent(d.memory), '%'):>4}  {fmt.rate(d.throughput):>7} seq/s  "
            f"queue {d.queue_depth:>3}  done {d.units_done:>4}  stolen {d.stolen_in}/{d.stolen_out}{unit}")


def run_line(s: RunSnapshot) -> str:
    done = s.units_done + s.units_skipped
    failed = f", {s.units_failed} failed" if s.units_failed else ""
    return (f"run    {done}/{s.units_total} units{failed}, {s.sequences_done:,} seqs, "
            f"{fmt.rate(s.throughput)} seq/s, elapsed {fmt.duration(s.elapsed)}, ETA {fmt.duration(s.eta)}, "
            f"steals {s.steals_total}" + (f", splits {s.splits_total}" if s.splits_total else ""))


def event_line(e: RunEvent, labels: dict[int, str]) -> str:
    if e.kind == snap.EV_STEAL and e.steal is not None:
        # ASCII arrow: this log is for pipes and grep.
        return f"{fmt.clock(e.time)} steal  {fmt.steal_line(e.steal, labels, arrow='<-')}"
    return f"{fmt.clock(e.time)} {fmt.printable(e.kind):<6} {fmt.printable(e.message)}"


def summary_lines(s: RunSnapshot, code: int | None = None) -> list[str]:
    """The closing lines. ``code``: the exit code when the run could not close out
    (its dispatcher did not end in time after a second signal): the snapshot then
    has no exit code of its own, and the verb must still say how the run ended."""
    summary = s.summary or {}
    exit_code = s.exit_code if s.exit_code is not None else code
    verb = "aborted" if s.error else ("interrupted" if exit_code == 130 else "finished")
    lines = [f"{verb}: {summary.get('files_done', s.units_done)}/{summary.get('files_total', s.units_total)} units, "
             f"{summary.get('files_failed', s.units_failed)} failed, "
             f"{summary.get('sequences', s.sequences_done):,} seqs, "
             f"{summary.get('steals', s.steals_total)} steals, {summary.get('splits', s.splits_total)} splits, "
             f"makespan {summary.get('makespan_s', 0):.2f} s",
             results_line(s.out_dir, summary)]
    without = summary.get("sequences_without_frames")
    if without:
        total = without + int(summary.get("sequences_classified") or 0)
        lines.append(f"{without:,} of {total:,} input sequences have no stop-free frame in any chunk: not "
                     f"classified (Is_Virus NA in prediction_per_sequence.tsv)")
    run = summary.get("run") or {}
    if isinstance(run.get("sessions"), int) and run["sessions"] > 1:  # a resumed run: the whole of it too
        lines.insert(1, f"whole run: {run['sessions']} sessions, {run.get('units', 0):,} units, "
                        f"{run.get('sequences', 0):,} seqs, {fmt.duration(run.get('wall_s'))} running over "
                        f"{fmt.duration(run.get('span_s'))}")
    lines += [f"notice: {fmt.printable(n)}" for n in s.notices]
    return lines


def results_line(out_dir: str, summary: dict) -> str:
    """Where the results are: per input file under results/ when the task merges them."""
    folder = summary.get("results_dir")
    if not folder:
        return f"results in {fmt.printable(out_dir)}"
    where = fmt.printable(os.path.join(out_dir, folder))
    return f"results in {where}{os.sep}<input path>{os.sep} (one folder per input file)"


def follow(source: SnapshotSource, *, refresh: float = 2.0, out: TextIO | None = None,
           done: Callable[[], bool] | None = None) -> RunSnapshot:
    """Print until the run is finished, or until ``done()``; returns the last snapshot.
    The closing summary lines are printed only for a finished run: when ``done()``
    ends the loop first, the caller prints them once it knows the exit code."""
    out = out or sys.stdout
    last_seq = 0
    next_status = 0.0
    while True:
        snap = source.snapshot()
        labels = fmt.device_labels(snap)
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
                print(f"{fmt.clock(snap.time)} {device_line(d)}", file=out)
            if snap.finished:  # else only the caller knows how the run ends: it prints them
                for line in summary_lines(snap):
                    print(line, file=out, flush=True)
            return snap
        if now >= next_status:
            next_status = now + refresh
            stamp = fmt.clock(snap.time)
            for d in snap.devices:
                print(f"{stamp} {device_line(d)}", file=out)
            print(f"{stamp} {run_line(snap)}", file=out, flush=True)
        time.sleep(min(EVENT_POLL_S, refresh))
