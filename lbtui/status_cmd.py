"""``lbtui status OUT [--json]``: a run folder in a few lines (or one JSON object), once.

For scripts, cron jobs, a login node: it never opens a dashboard, never waits
for the run, and its exit code says where the run stands (``EXAMPLES`` below).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

EXAMPLES = """\
examples:
  lbtui status lbtui-results
  lbtui status --json runs/today | jq .progress
  until lbtui status -q runs/today; [ $? -ne 4 ]; do sleep 60; done   (wait for the end)

exit codes:
  0  finished: every unit done
  1  finished: some units failed
  2  OUT is not a run folder (or a usage error)
  3  not running and not finished: interrupted, aborted, or killed (no summary),
     or on another host with nothing written for 10 minutes; run the same
     `lbtui run` command again to resume
  4  running
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="print where a run stands, once: progress, devices, ETA, who holds it, its exit code",
        description="Print a run folder's state once, live or finished: progress over all its "
        "sessions, each device, the ETA, who holds it (host, pid, Slurm job), its last events and, "
        "once it has ended, its exit code. A live run on this host is asked through its control "
        "channel; otherwise the figures come from the folder.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="the run's --out folder")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing: only the exit code says")
    p.add_argument("--events", type=_events, default=8, metavar="N", help="last events shown [default: 8]")
    p.set_defaults(handler=main)


def _events(text: str) -> int:
    from .argtypes import non_negative_int

    return non_negative_int(text)


def main(args: argparse.Namespace) -> int:
    from .status import gather

    facts = gather(args.out, events=args.events)
    if args.json:
        print(json.dumps(facts, indent=2))
    elif not args.quiet:
        for line in text_lines(facts):
            print(line)
    sys.stdout.flush()
    return int(facts["status_code"])


def text_lines(s: dict[str, Any]) -> list[str]:
    """The text form. Names and messages from the folder are made printable: a file
    named with terminal escapes must not steer the terminal that reads this."""
    from . import format as fmt

    p = fmt.printable
    prog = s["progress"]
    sessions = s["sessions"]
    head = f"{p(s['out'])}: {s['state']}"
    if s["state"] != "running" and s["exit_code"] is not None:
        head += f" (exit {s['exit_code']})"
    if s["note"]:
        head += f": {p(s['note'])}"
    lines = [head]
    h = s["holder"]
    who = [h["host"] or "this host", f"pid {h['pid']}" if h["pid"] else "",
           f"Slurm job {h['slurm_job_id']}" if h["slurm_job_id"] else ""]
    verb = "held by " if s["state"] == "running" else "ran on  "
    lines.append(f"  {verb}   {p(', '.join(w for w in who if w))} · session {max(1, len(sessions))} "
                 f"({p(s['run_id'] or '?')})")
    units = f"{prog['units_done']:,}/{fmt.count(prog['units_total'])} units"
    if prog["fraction"] is not None:
        units += f" ({100 * prog['fraction']:.1f} %)"
    if prog["units_failed"]:
        units += f", {prog['units_failed']:,} failed"
    seqs = f"{prog['sequences_done']:,}/{fmt.count(prog['sequences_total'])} seqs"
    lines.append(f"  progress   {units} · {seqs} · {fmt.rate(s['seq_per_s'])} seq/s · ETA {fmt.duration(s['eta_s'])}"
                 + ("" if s["source"] == "channel" else " (from the folder)"))
    run = s["run"]
    if len(sessions) > 1:
        lines.append(f"  time       {fmt.duration(run['wall_s'])} in {len(sessions)} sessions, "
                     f"{fmt.duration(run['span_s'])} since the first start")
    if s["error"]:
        lines.append(f"  error      {p(s['error'])}")
    if s["devices"]:
        lines.append("  devices")
        for d in s["devices"]:
            unit = f"  {p(d['unit'])}" if d.get("unit") else ""
            if unit and d.get("unit_progress") is not None:
                unit += f" {100 * d['unit_progress']:.0f}%"
            lines.append(f"    {d['label']:<6} {p(d['state'] or ''):<9} {fmt.count(d['units']):>6} units "
                         f"{fmt.count(d['sequences']):>10} seqs {fmt.rate(d['seq_per_s']):>7} seq/s"
                         + (f"  queue {d['queue']}" if d.get("queue") else "") + unit)
    if len(sessions) > 1:
        lines.append("  sessions")
        for i, x in enumerate(sessions, 1):
            ended = "running" if x["end"] == "running" else x["end"] + (
                f" (exit {x['exit_code']})" if x["exit_code"] is not None else "")
            lines.append(f"    {i:<2} {_when(x['started_epoch'])}  {fmt.duration(x['wall_s']):>8}  {ended:<22} "
                         f"{x['units']:>6,} units {x['sequences']:>10,} seqs  {p(x['host'] or '')}")
    if s["events"]:
        lines.append("  last events")
        for e in s["events"]:
            lines.append(f"    {fmt.clock(e['time'])} {p(e['kind']):<8} {p(e['message'])}")
    lines.append(f"  exit code  {s['exit_code'] if s['exit_code'] is not None else '–'}"
                 f" · lbtui status exits {s['status_code']} ({s['state']})")
    return lines


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "?"
