"""The headless log: plain lines for pipes, CI logs, batch jobs and ``--headless``.

Reads only snapshots, like the dashboard. Names and messages from outside go
through ``fmt.printable``: one event is one line, and none can drive the
terminal. Two styles:

- **live** (a terminal): each device's line and a run line every ``--refresh``
  seconds, and every event as soon as it happens;
- **batch** (stdout is not a terminal: a Slurm job's log, a file): a run line
  every ``--progress-interval`` seconds (60), every event but steals and splits
  (the run line counts them), and a device's line only when its state changes
  (starts, stalls, dies, is paused or drained; running and idle are one state).
  ``--verbose`` adds every device's line to each run line and prints steals and
  splits. A day-long 8-GPU batch run writes about 1,440 lines plus its events.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from virnucpro_bridge.control import SnapshotSource
from virnucpro_bridge.control import snapshot as snap
from virnucpro_bridge.control.snapshot import DeviceView, RunEvent, RunSnapshot

from . import format as fmt

EVENT_POLL_S = 0.2  # how soon an event is printed after it happens
PROGRESS_INTERVAL_S = 60.0  # batch style: seconds between run lines (--progress-interval)
CHATTER = (snap.EV_STEAL, snap.EV_SPLIT)  # batch style: counted in the run line, printed with --verbose
RESUME_HINT = "; run the same command again to resume"  # the interrupted line's last words
WORKING = "working"  # running and idle, as one state: a device is idle between two units


@dataclass(frozen=True)
class Style:
    """How often, and what: ``batch`` is the style for a log without a terminal."""

    refresh: float = 2.0  # live: seconds between status blocks
    batch: bool = False
    interval: float = PROGRESS_INTERVAL_S  # batch: seconds between run lines
    verbose: bool = False  # batch: device lines with every run line, steals and splits printed


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
             f"makespan {summary.get('makespan_s', 0):.2f} s" + (RESUME_HINT if verb == "interrupted" else ""),
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


def shown_state(d: DeviceView) -> str:
    """The state whose changes the batch style prints (running and idle are one)."""
    state = fmt.row_state(d)
    return WORKING if state in (snap.RUNNING, snap.IDLE) else state


class HeadlessLog:
    """Prints one run's snapshots in a ``Style``; ``poll`` once per EVENT_POLL_S."""

    def __init__(self, out: TextIO, style: Style, clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.style, self.clock = out, style, clock
        self.last_seq = 0
        self.next_status = 0.0
        self.states: dict[int, str] = {}  # batch: the state each device's last printed line showed

    def _print(self, line: str) -> None:
        print(line, file=self.out)

    def events(self, s: RunSnapshot) -> None:
        labels = fmt.device_labels(s)
        quiet = self.style.batch and not self.style.verbose
        for event in s.events:
            if event.seq > self.last_seq:
                self.last_seq = event.seq
                if not (quiet and event.kind in CHATTER):
                    self._print(event_line(event, labels))

    def devices(self, s: RunSnapshot, *, every: bool) -> None:
        stamp = fmt.clock(s.time)
        for d in s.devices:
            state = shown_state(d)
            if every or self.states.get(d.index) != state:
                self._print(f"{stamp} {device_line(d)}")
            self.states[d.index] = state

    def poll(self, s: RunSnapshot) -> None:
        """The events since the last poll; device lines and the run line when due."""
        self.events(s)
        now = self.clock()
        due = now >= self.next_status
        if self.style.batch:
            self.devices(s, every=due and self.style.verbose)
        elif due:
            self.devices(s, every=True)
        if due:
            # on a fixed grid, so polling late never drifts the lines (1,440 a day, not fewer)
            self.next_status += self.style.interval if self.style.batch else self.style.refresh
            if self.next_status <= now:  # the first line, or the process was held up
                self.next_status = now + (self.style.interval if self.style.batch else self.style.refresh)
            self._print(f"{fmt.clock(s.time)} {run_line(s)}")
        self.out.flush()

    def close(self, s: RunSnapshot) -> None:
        """The last events and every device's final line; the closing lines if the run finished."""
        self.events(s)
        self.devices(s, every=True)
        if s.finished:  # else only the caller knows how the run ends: it prints them
            for line in summary_lines(s):
                self._print(line)
        self.out.flush()


def follow(source: SnapshotSource, *, refresh: float = 2.0, out: TextIO | None = None,
           done: Callable[[], bool] | None = None, style: Style | None = None,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> RunSnapshot:
    """Print until the run is finished, or until ``done()``; returns the last snapshot.
    The closing summary lines are printed only for a finished run: when ``done()``
    ends the loop first, the caller prints them once it knows the exit code.
    ``style`` (default: live, every ``refresh`` seconds); ``clock``/``sleep`` for tests."""
    style = style or Style(refresh=refresh)
    log = HeadlessLog(out or sys.stdout, style, clock)
    while True:
        s = source.snapshot()
        if s.finished or (done is not None and done()):
            final = source.snapshot()
            log.close(final)
            return final
        log.poll(s)
        sleep(min(EVENT_POLL_S, style.refresh))
