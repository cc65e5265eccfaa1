"""Fixture run folders, written the way the runner writes them.

Units run back to back on each device from T0, so bar positions, counts and
the lower bound are known exactly.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from virnucpro_bridge.runfiles.folder_format import FORMAT
from virnucpro_bridge.runfiles.sessions import close_session, start_line

T0 = 1_790_000_000.0
NAMES = ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB", "RTX <4090> & co") + tuple(f"sim{i}" for i in range(3, 16))
SEQS = 100  # sequences per unit (the last unit of each device gets a different count)


@dataclass
class Made:
    """What a fixture folder holds, for assertions."""

    path: Path
    devices: list[str]
    units: list[str]
    failures: list[tuple[str, str]] = field(default_factory=list)
    earlier: list[str] = field(default_factory=list)


def make_run(folder: Path, *, units: int = 24, speeds: tuple[float, ...] = (2.0, 1.0, 1.0),
             failures: int = 0, exit_code: int | None = 0, interrupted: bool = False,
             earlier: int = 0, torn: bool = False, controls: bool = False,
             splits: int = 0, file_name: str = "sample_{i:05d}.fa") -> Made:
    """Write a run folder; ``exit_code=None`` leaves no summary.json (a SIGKILLed run)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(NAMES[: len(speeds)])
    devices = [{"index": i, "device": n, "kind": "cuda", "weight": s, "pid": 100 + i}
               for i, (n, s) in enumerate(zip(names, speeds, strict=True))]
    run = {"format": FORMAT, "lbtui": "0.2.0", "run_id": "s2", "main_pid": 99,
           "argv": ["/x/lbtui/cli.py", "run", "--gpus", "0,1,2", "--out", str(folder), "in/"],
           "task": "virnucpro", "start_time": "2026-09-21T12:00:00+0000", "start_epoch": T0, "devices": devices,
           "inputs": ["in/", "more/extra.fa"], "out": str(folder)}
    rows, clock = [], [T0 + 0.5] * len(speeds)
    uids = [file_name.format(i=i) for i in range(units)]
    for i, uid in enumerate(uids):
        d = i % len(speeds)
        seqs = SEQS + (7 * i) % 50
        secs = seqs / (100.0 * speeds[d])
        row = {"file": uid, "shard": 0, "device_index": d, "device": names[d], "sequences": seqs,
               "seconds": round(secs, 6), "stolen": i % 5 == 4, "attempt": 2 if i % 11 == 10 else 1,
               "output": f"units/{uid}.json", "sha256": "ab" * 32, "start": 0, "count": seqs,
               "task": "virnucpro", "fingerprint": ""}
        is_earlier = i < earlier
        begin = T0 - 3600 + i if is_earlier else clock[d]
        row.update(run_id="s1" if is_earlier else "s2", started=begin, ended=begin + secs)
        if i < splits:
            row["split_from"] = f"big_{i}.fa"
        if not is_earlier:
            clock[d] += secs
        rows.append(row)
    end = max(clock)
    lines = [json.dumps(r) + "\n" for r in rows]
    if torn:
        lines.append(json.dumps(rows[0])[:40])  # killed mid-write: no newline, no closing brace
    (folder / "manifest.jsonl").write_text("".join(lines))
    (folder / "run.json").write_text(json.dumps(run, indent=2))
    failed = [(f"broken_{k}.fa", f"ValueError: bad record {k} <in> \"file\"") for k in range(failures)]
    events = _events(speeds, failed, end, controls)
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    _metrics(folder / "metrics.csv", speeds, end, iso=False)
    start = start_line("s2", T0, [{"index": d["index"], "name": d["device"], "kind": d["kind"],
                                   "weight": d["weight"]} for d in devices])
    session_lines = [start]
    if failed:
        (folder / "errors.log").write_text("".join(
            f"--- 2026-09-21 12:00:0{k % 10} {names[0]} {u} attempt 3\nTraceback (most recent call last):\n"
            f'  File "task.py", line 1, in run_unit\n{err}\n' for k, (u, err) in enumerate(failed)))
    if exit_code is not None:
        summary = _summary(rows, devices, failed, exit_code, interrupted, end, splits, earlier)
        session_lines.append(close_session(summary, start, []))
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    (folder / "sessions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in session_lines))
    return Made(folder, names, [r["file"] for r in rows[earlier:]], failed, [r["file"] for r in rows[:earlier]])


def _events(speeds, failed, end, controls) -> list[dict]:
    events = [{"seq": 0, "time": T0 + 0.1, "kind": "info", "level": "info", "message": "run started",
               "device": None, "unit": None, "action": None},
              {"seq": 1, "time": T0 + 1.0, "kind": "steal", "level": "info", "message": "sim1 stole x from sim0",
               "device": 1, "unit": "x", "action": None, "thief": 1, "victim": 0}]
    for k, (uid, err) in enumerate(failed):
        events.append({"seq": 0, "time": T0 + 1 + k, "kind": "retry", "level": "warning",
                       "message": f"{uid} failed (attempt 1): {err}; retrying", "device": 1, "unit": uid,
                       "action": None})
        events.append({"seq": 0, "time": T0 + 2 + k, "kind": "failure", "level": "error",
                       "message": f"{uid} failed: {err}", "device": 0, "unit": uid, "action": None})
    if controls:
        for t, action, dev in ((0.2, "pause", 1), (0.5, "resume", 1), (0.3, "drain", 2), (0.6, "drained", 2),
                               (0.1, "stealing_off", None), (0.4, "stealing_on", None), (0.9, "stop", None)):
            events.append({"seq": 0, "time": T0 + t * (end - T0), "kind": "control", "level": "info",
                           "message": f"{action} <device {dev}>", "device": dev, "unit": None, "action": action})
    events.sort(key=lambda e: e["time"])
    for i, e in enumerate(events):
        e["seq"] = i
    return events


def _metrics(path: Path, speeds, end: float, iso: bool) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("timestamp" if iso else "time", "device", "seq_per_s", "util_pct", "mem_pct", "queue", "done"))
        t = T0 + 1.0
        while t <= end:
            for d, s in enumerate(speeds):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + ".000" if iso else f"{t:.3f}"
                w.writerow((stamp, d, "" if t < T0 + 2 else f"{100 * s:.2f}", "95.0", "" if d == 2 else "40.5", 3, 1))
            t += 1.0


def _summary(rows, devices, failed, exit_code, interrupted, end, splits, earlier) -> dict:
    """As the runner writes it: counts of this session, files_done and files_total over the run."""
    per, total = [], len(rows)
    rows = rows[earlier:]
    for d in devices:
        mine = [r for r in rows if r["device_index"] == d["index"]]
        per.append({"index": d["index"], "name": d["device"], "kind": "cuda", "weight": d["weight"],
                    "files_done": len(mine), "files_failed": len(failed) if d["index"] == 0 else 0,
                    "sequences": sum(r["sequences"] for r in mine), "busy_s": sum(r["seconds"] for r in mine),
                    "stolen_in": sum(r["stolen"] for r in mine), "stolen_out": 0, "final_state": "done"})
        # where its time went: device i waited i x 8 s for input
        per[-1].update(time_split_s={"input": 8.0 * d["index"], "cpu": 2.0, "gpu": 30.0, "write": 0.0},
                       setup_s=4.0, energy_wh=1.5 if d["index"] == 0 else None,
                       wh_per_million_seqs=1234.5 if d["index"] == 0 else None,
                       task_counts={"fp32_redone_batches": d["index"]})
    summary = {"makespan_s": round(end - T0 - 0.5, 3), "files_total": total + len(failed),
               "files_done": total, "files_skipped": earlier, "files_failed": len(failed),
               "files_not_run": 3 if interrupted else 0, "sequences": sum(r["sequences"] for r in rows),
               "steals": sum(r["stolen"] for r in rows), "exit_code": exit_code, "task": "virnucpro",
               "notices": ["demo models: predictions are meaningless"],
               "failures": [{"unit": u, "error": e} for u, e in failed], "merge_failures": [], "devices": per,
               "started_epoch": T0, "finished_epoch": end + 0.2, "interrupted": interrupted,
               "internal_error": None, "splits": splits}
    return summary
