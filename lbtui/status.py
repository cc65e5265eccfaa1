"""``lbtui status``'s facts about a run folder, live or finished, as one plain dict.

    run.json, sessions.jsonl, summary.json,  ─▶ reader.load ─┐
    manifest.jsonl, events.jsonl                            ├─▶ gather() ─▶ dict ─▶ JSON, or text
    the run's control channel (while it runs, on this host) ─┘   (status_cmd.py)

A live run on this host answers one snapshot over its control channel
(``remote.py``): its own progress, rates and ETA. Otherwise the figures come
from the folder: a finished session's summary.json, or (killed, unreachable,
running on another host) its manifest lines and sessions.jsonl start line.
Every name in the dict is as the run folder has it: ``status_cmd`` makes it
printable.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from virnucpro_bridge.control.snapshot import RunSnapshot, device_label
from virnucpro_bridge.runfiles.history import read_lines
from virnucpro_bridge.runfiles.manifest import MANIFEST
from virnucpro_bridge.runfiles.reader import EVENTS, METRICS, RunFolder, load, read_run, session_summary
from virnucpro_bridge.runfiles.sessions import ENDS, KILLED, RUNNING, SESSIONS, Session, end_of, run_totals

from .finished import live_session

# lbtui status's own exit codes (docs/runs.md; --help). 2 is the usual usage error.
FINISHED_OK, FINISHED_FAILURES, NOT_RUNNING, RUNNING_NOW = 0, 1, 3, 4
STATUS_CODES = {"finished": FINISHED_OK, "failed": FINISHED_FAILURES, RUNNING: RUNNING_NOW}  # others: 3
SILENT_S = 600.0  # a run on another host that wrote nothing for this long is taken for gone
EVENTS_SHOWN = 8
RESUME = "run the same `lbtui run` command again to resume"
ENDS_SAID = {ENDS[0]: "every unit done", ENDS[1]: "some units failed (`lbtui report` lists them)",
             ENDS[130]: f"stopped before the end; {RESUME}", "aborted": f"aborted; {RESUME}"}


def gather(out_arg: str, *, events: int = EVENTS_SHOWN) -> dict[str, Any]:
    """Everything ``lbtui status`` says about the run in ``out_arg`` (InputError: not a run folder)."""
    out = Path(out_arg).expanduser().resolve()
    run = read_run(out, out_arg)
    live = live_session(out)
    rf = load(out, live=live)
    summary = session_summary(out, run)  # this session's: it ended
    current = next((s for s in rf.sessions if s.run_id == run.get("run_id")),
                   rf.sessions[-1] if rf.sessions else None)
    holder = _holder(run, current)
    start = next((x for x in read_lines(out) if current is not None and x.get("run_id") == current.run_id
                  and x.get("session") == "start"), {})  # what the run held when this session began
    snap, reached = None, None
    if live is not None and summary is None:
        snap, reached = _snapshot(out, run)
    state, note = _state(run, current, summary, live, holder, _last_write(out))
    facts: dict[str, Any] = {
        "out": str(out), "state": state, "status_code": STATUS_CODES.get(state, NOT_RUNNING), "note": note,
        "exit_code": summary.get("exit_code") if summary else None,
        "run_id": run.get("run_id"), "holder": holder,
        "source": "channel" if snap is not None else "folder", "channel": reached,
        "sessions": [s.record() for s in rf.sessions], "run": run_totals(rf.sessions),
        "error": (summary or {}).get("internal_error"),
    }
    if snap is not None:
        facts.update(_from_snapshot(snap, start))
    elif summary is not None:
        facts.update(_from_summary(summary, start, facts["run"]))
    else:
        facts.update(_from_folder(start, current, state == RUNNING, rf))
    shown = [{"seq": e.seq, "time": e.time, "kind": e.kind, "level": e.level, "message": e.message}
             for e in rf.events[-events:]] if events else []
    if snap is not None and events:
        shown = [{"seq": e.seq, "time": e.time, "kind": e.kind, "level": e.level, "message": e.message}
                 for e in snap.events[-events:]]
    facts["events"] = shown
    return facts


def _holder(run: dict[str, Any], current: Session | None) -> dict[str, Any]:
    """Who holds the run: run.json's host, pid and Slurm job, else its session's start line."""
    host = run.get("host") or (current.host if current else None)
    job = run.get("slurm_job") or (current.slurm_job_id if current else None)
    return {"host": str(host) if host else None, "pid": run.get("main_pid"),
            "slurm_job_id": str(job) if job else None,
            "here": not host or str(host) == socket.gethostname()}


def _snapshot(out: Path, run: dict[str, Any]) -> tuple[RunSnapshot | None, str]:
    """One snapshot over the run's control channel, or None and why not."""
    from .remote import RemoteRun

    try:
        remote = RemoteRun.connect(out, run)
    except Exception as exc:  # noqa: BLE001 - any reason to fall back to the folder is said, not raised
        return None, f"not reached ({type(exc).__name__}: {exc}); figures from the folder"
    try:
        return remote.snapshot(), "reached"
    except Exception as exc:  # noqa: BLE001 - as above
        return None, f"no snapshot ({type(exc).__name__}: {exc}); figures from the folder"
    finally:
        remote.close()


def _last_write(out: Path) -> float | None:
    """When the run last wrote to its journals (a heartbeat for a run we cannot ask)."""
    times = []
    for name in (METRICS, EVENTS, MANIFEST, SESSIONS):
        try:
            times.append(os.stat(out / name).st_mtime)
        except OSError:
            continue
    return max(times) if times else None


def _state(run: dict[str, Any], current: Session | None, summary: dict[str, Any] | None, live: str | None,
           holder: dict[str, Any], last_write: float | None) -> tuple[str, str]:
    if summary is not None:
        state = end_of(summary.get("exit_code"))
        return state, ENDS_SAID.get(state, "")
    if live is not None:
        return RUNNING, ""
    quiet = time.time() - last_write if last_write is not None else None
    if not holder["here"]:
        if quiet is not None and quiet < SILENT_S:
            return RUNNING, (f"on {holder['host']}: its process cannot be checked from here; "
                             f"it last wrote {quiet:.0f} s ago")
        return KILLED, (f"on {holder['host']}: nothing written for "
                        f"{'a long time' if quiet is None else f'{quiet / 60:.0f} min'}; killed, or its node "
                        f"is down; {RESUME}")
    return KILLED, f"its process (pid {run.get('main_pid')}) is gone and wrote no summary; {RESUME}"


def _from_snapshot(snap: RunSnapshot, start: dict[str, Any]) -> dict[str, Any]:
    kept = _count(start.get("sequences_kept"))  # sequences earlier sessions did
    return {
        "progress": _progress(snap.units_done + snap.units_skipped, snap.units_total, snap.units_failed,
                              kept + snap.sequences_done, kept + snap.sequences_total),
        "seq_per_s": snap.throughput, "eta_s": snap.eta, "elapsed_s": snap.elapsed,
        "devices": [{"index": d.index, "label": d.label, "name": d.name, "state": d.state, "units": d.units_done,
                     "sequences": d.sequences_done, "seq_per_s": d.throughput, "queue": d.queue_depth,
                     "unit": d.current_unit, "unit_progress": d.current_progress} for d in snap.devices],
    }


def _from_summary(summary: dict[str, Any], start: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    devices = []
    for d in summary.get("devices") or []:
        if not isinstance(d, dict) or not isinstance(d.get("index"), int):
            continue
        busy, seqs = _num(d.get("busy_s")), _count(d.get("sequences"))
        devices.append({"index": d["index"], "label": device_label(str(d.get("kind") or ""), d["index"]),
                        "name": d.get("name"), "state": d.get("final_state"), "units": _count(d.get("files_done")),
                        "sequences": seqs, "seq_per_s": seqs / busy if busy and seqs else None, "queue": 0,
                        "unit": None, "unit_progress": None})
    if "sequences_kept" in start:
        done = _count(start.get("sequences_kept")) + _count(summary.get("sequences"))
        total = start.get("sequences_total") if isinstance(start.get("sequences_total"), int) else None
    else:  # no start line (sessions.jsonl lost): the sessions' sum, the total unknown unless all is done
        done, total = _count(run.get("sequences")), None
    if total is None and summary.get("exit_code") == 0:
        total = done
    span = _num(summary.get("makespan_s"))
    return {"progress": _progress(_count(summary.get("files_done")), _count(summary.get("files_total")),
                                  _count(summary.get("files_failed")), done, total),
            "seq_per_s": _count(summary.get("sequences")) / span if span else None,  # its mean: it has ended
            "eta_s": 0.0 if summary.get("exit_code") in (0, 1) else None,
            "elapsed_s": summary.get("makespan_s"), "devices": devices}


def _from_folder(start: dict[str, Any], current: Session | None, running: bool, rf: RunFolder) -> dict[str, Any]:
    """A session with no summary (running where we cannot ask, or killed): its start line
    says what the run holds, its manifest lines what it has done (without a start line,
    killed before it or sessions.jsonl lost: every finished unit of the manifest, the
    total unknown)."""
    done = current.units if current else 0
    seqs = current.sequences if current else 0
    units_total = start.get("units_total") if isinstance(start.get("units_total"), int) else None
    sequences_total = start.get("sequences_total") if isinstance(start.get("sequences_total"), int) else None
    kept_units, kept_seqs = _count(start.get("units_kept")), _count(start.get("sequences_kept"))
    if "units_kept" not in start:
        kept_units = len(rf.units) - done
        kept_seqs = sum(s.sequences for s in rf.sessions) - seqs
    elapsed = current.wall_s if current else None
    rate = seqs / elapsed if elapsed and seqs else None
    left = sequences_total - kept_seqs - seqs if sequences_total is not None else None
    devices = [{"index": d.index, "label": device_label(d.kind, d.index), "name": d.name,
                "state": RUNNING if running else "", "units": d.units, "sequences": d.sequences,
                "seq_per_s": d.sequences / d.busy_s if d.busy_s else None, "queue": None, "unit": None,
                "unit_progress": None} for d in (current.devices if current else ())]
    return {"progress": _progress(kept_units + done, units_total, None, kept_seqs + seqs, sequences_total),
            "seq_per_s": rate, "eta_s": max(0.0, left / rate) if running and rate and left is not None else None,
            "elapsed_s": elapsed, "devices": devices}


def _count(raw: object) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0


def _num(raw: object) -> float:
    return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else 0.0


def _progress(units: int, units_total: int | None, failed: int | None, sequences: int,
              sequences_total: int | None) -> dict[str, Any]:
    fraction = units / units_total if units_total else None
    return {"units_done": units, "units_total": units_total, "units_failed": failed,
            "sequences_done": sequences, "sequences_total": sequences_total,
            "fraction": round(min(1.0, fraction), 4) if fraction is not None else None}
