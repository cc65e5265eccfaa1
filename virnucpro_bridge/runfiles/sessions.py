"""A run's sessions: each ``lbtui run`` on the same ``--out``, and the run as a whole.

An interrupted run is resumed by running it again; each start is a session with
its own ``run_id``. What each session did is kept in ``sessions.jsonl``, two
whole lines per session (appended through ``journal.py``)::

    {"session": "start", "run_id": ..., "started_epoch": ..., "host": ..., "pid": ...,
     "slurm_job_id": ..., "devices": [{"index", "name", "kind"}]}
    {"session": "end", "run_id": ..., its figures (as ``Session.record()``)}

A session that has no end line (killed, its node lost, or still running) is
rebuilt from what it did leave (``history.py``).
``summary.json`` repeats the list (``sessions``) and their totals (``run``, see
``run_totals``) so that one file says everything.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SESSIONS = "sessions.jsonl"
ENDS = {0: "finished", 1: "failed", 130: "interrupted"}  # any other exit code: "aborted"
KILLED, RUNNING = "killed", "running"  # no end line: its process is gone, or still going


@dataclass(frozen=True)
class SessionDevice:
    """One device's work in one session (a device that finished nothing has zeros)."""

    index: int
    name: str = ""
    kind: str = ""
    units: int = 0
    failed: int = 0
    sequences: int = 0
    busy_s: float = 0.0
    stolen_in: int = 0
    stolen_out: int = 0
    state: str = ""  # its final state ("done", "dead" ...); "" when the session left no summary
    weight: float | None = None


@dataclass(frozen=True)
class Session:
    """One session. ``recorded``: its figures come from its own end line (exact);
    else they are rebuilt from its manifest rows (units finished, their seconds)."""

    run_id: str
    started: float | None = None  # epoch seconds
    ended: float | None = None  # its end; for a killed session, the last thing it wrote
    end: str = KILLED  # finished | failed | interrupted | aborted | killed | running
    exit_code: int | None = None
    host: str | None = None
    pid: int | None = None
    slurm_job_id: str | None = None
    units: int = 0  # units (pieces) it finished
    failed: int = 0
    sequences: int = 0
    steals: int = 0
    splits: int = 0
    makespan_s: float | None = None  # first dispatch to last completion
    devices: tuple[SessionDevice, ...] = ()
    recorded: bool = False

    @property
    def wall_s(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return max(0.0, self.ended - self.started)

    @property
    def device_s(self) -> float:
        """Seconds its devices spent on units, summed over devices."""
        return sum(d.busy_s for d in self.devices)

    @property
    def gpus(self) -> int:
        return sum(1 for d in self.devices if d.kind == "cuda")

    def record(self) -> dict[str, Any]:
        """The JSON form: a sessions.jsonl end line, an entry of summary.json's ``sessions``."""
        return {
            "run_id": self.run_id, "started_epoch": _round(self.started), "ended_epoch": _round(self.ended),
            "end": self.end, "exit_code": self.exit_code, "host": self.host, "pid": self.pid,
            "slurm_job_id": self.slurm_job_id, "units": self.units, "failed": self.failed,
            "sequences": self.sequences, "steals": self.steals, "splits": self.splits,
            "makespan_s": _round(self.makespan_s), "wall_s": round(self.wall_s, 3),
            "device_s": round(self.device_s, 3), "recorded": self.recorded,
            "devices": [{"index": d.index, "name": d.name, "kind": d.kind, "weight": d.weight, "units": d.units,
                         "failed": d.failed, "sequences": d.sequences, "busy_s": round(d.busy_s, 3),
                         "stolen_in": d.stolen_in, "stolen_out": d.stolen_out, "state": d.state}
                        for d in self.devices],
        }


def _round(t: float | None) -> float | None:
    return None if t is None else round(t, 3)


# -- what the runner writes ---------------------------------------------------------------

def holder() -> dict[str, Any]:
    """Who runs this session: host, pid and the Slurm job (SLURM_JOB_ID, what
    ``srun --jobid`` takes; also set for each task of a job array)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None}


def start_line(run_id: str, started: float, devices: Iterable[Mapping[str, Any]],
               plan: Mapping[str, int] | None = None) -> dict[str, Any]:
    """sessions.jsonl's line for a session that starts now. ``devices``: index, name, kind,
    weight; ``plan``: ``units_total`` and ``sequences_total`` of the whole run, and how many
    of them earlier sessions did (``units_kept``, ``sequences_kept``), for progress read
    from the folder while the session runs."""
    return {"session": "start", "run_id": run_id, "started_epoch": round(started, 3), **holder(),
            **dict(plan or {}),
            "devices": [{"index": d["index"], "name": d["name"], "kind": d["kind"], "weight": d.get("weight")}
                        for d in devices]}


def session_of(run_id: str, summary: Mapping[str, Any], start: Mapping[str, Any] | None = None) -> Session:
    """A session from the summary its coordinator wrote (``build_summary``'s fields)."""
    start = start or {}
    code = summary.get("exit_code")
    devices = tuple(SessionDevice(
        index=as_int(d.get("index")), name=as_str(d.get("name")), kind=as_str(d.get("kind")),
        units=as_int(d.get("files_done")), failed=as_int(d.get("files_failed")), sequences=as_int(d.get("sequences")),
        busy_s=as_float(d.get("busy_s")), stolen_in=as_int(d.get("stolen_in")), stolen_out=as_int(d.get("stolen_out")),
        state=as_str(d.get("final_state")), weight=as_time(d.get("weight")),
    ) for d in summary.get("devices") or [] if isinstance(d, Mapping) and isinstance(d.get("index"), int))
    began = [t for t in (as_time(summary.get("started_epoch")), as_time(start.get("started_epoch"))) if t is not None]
    return Session(
        run_id=run_id, started=min(began) if began else None,
        ended=as_time(summary.get("finished_epoch")), end=end_of(code),
        exit_code=code if isinstance(code, int) else None, host=as_opt(start.get("host")),
        pid=as_time(start.get("pid"), int), slurm_job_id=as_opt(start.get("slurm_job_id")),
        units=as_int(summary.get("files_done")) - as_int(summary.get("files_skipped")),
        failed=as_int(summary.get("files_failed")), sequences=as_int(summary.get("sequences")),
        steals=as_int(summary.get("steals")), splits=as_int(summary.get("splits")),
        makespan_s=as_time(summary.get("makespan_s")), devices=devices, recorded=True,
    )


def close_session(summary: dict[str, Any], start: Mapping[str, Any], earlier: list[Session]) -> dict[str, Any]:
    """Add this session (``start``: its start line) and the whole run to ``summary``
    (``run_id``, ``sessions``, ``run``); returns its sessions.jsonl end line."""
    this = session_of(start["run_id"], summary, start)
    found = [*earlier, this]
    summary["run_id"] = this.run_id
    summary["sessions"] = [s.record() for s in found]
    summary["run"] = run_totals(found)
    return {"session": "end", **this.record()}


def session_from_record(rec: Mapping[str, Any], start: Mapping[str, Any] | None = None) -> Session:
    """The inverse of ``Session.record()`` (``start``: its start line, for what the record lacks)."""
    start = start or {}
    devices = tuple(SessionDevice(
        index=as_int(d.get("index")), name=as_str(d.get("name")), kind=as_str(d.get("kind")),
        units=as_int(d.get("units")), failed=as_int(d.get("failed")), sequences=as_int(d.get("sequences")),
        busy_s=as_float(d.get("busy_s")), stolen_in=as_int(d.get("stolen_in")),
        stolen_out=as_int(d.get("stolen_out")), state=as_str(d.get("state")), weight=as_time(d.get("weight")),
    ) for d in rec.get("devices") or [] if isinstance(d, Mapping) and isinstance(d.get("index"), int))
    code = rec.get("exit_code")
    return Session(
        run_id=str(rec["run_id"]), started=as_time(rec.get("started_epoch")) or as_time(start.get("started_epoch")),
        ended=as_time(rec.get("ended_epoch")), end=end_of(code), exit_code=code if isinstance(code, int) else None,
        host=as_opt(rec.get("host") or start.get("host")), pid=as_time(rec.get("pid") or start.get("pid"), int),
        slurm_job_id=as_opt(rec.get("slurm_job_id") or start.get("slurm_job_id")), units=as_int(rec.get("units")),
        failed=as_int(rec.get("failed")), sequences=as_int(rec.get("sequences")), steals=as_int(rec.get("steals")),
        splits=as_int(rec.get("splits")), makespan_s=as_time(rec.get("makespan_s")), devices=devices,
        recorded=rec.get("recorded", True) is True,  # a killed session, as an earlier summary rebuilt it
    )


def end_of(code: object) -> str:
    return ENDS.get(code, "aborted") if isinstance(code, int) else KILLED


# -- the run as a whole -------------------------------------------------------------------

def run_totals(found: list[Session]) -> dict[str, Any]:
    """summary.json's ``run``: every session's work added up. ``wall_s`` is the sum of the
    sessions' wall times, ``span_s`` first start to last end (gaps included);
    ``device_s`` the devices' busy seconds; ``gpu_hours`` and ``device_hours`` the time
    held (each session's wall time × its CUDA devices, × all its devices), what a
    cluster's accounting charges."""
    starts = [s.started for s in found if s.started is not None]
    ends = [s.ended for s in found if s.ended is not None]
    per: dict[int, dict[str, Any]] = {}
    for s in found:
        for d in s.devices:
            row = per.setdefault(d.index, {"index": d.index, "names": [], "kind": d.kind, "units": 0, "failed": 0,
                                           "sequences": 0, "busy_s": 0.0, "stolen_in": 0, "stolen_out": 0,
                                           "sessions": 0})
            if d.name and d.name not in row["names"]:
                row["names"].append(d.name)
            row["kind"] = d.kind or row["kind"]
            row["sessions"] += 1
            for k in ("units", "failed", "sequences", "busy_s", "stolen_in", "stolen_out"):
                row[k] += getattr(d, k)
    devices = []
    for i in sorted(per):
        row = per[i]
        busy = row["busy_s"]
        devices.append({"index": i, "name": " / ".join(row.pop("names")), **row, "busy_s": round(busy, 3),
                        "seq_per_s": round(row["sequences"] / busy, 3) if busy > 0 and row["sequences"] else None})
    wall = sum(s.wall_s for s in found)
    return {
        "sessions": len(found),
        "started_epoch": _round(min(starts)) if starts else None,
        "ended_epoch": _round(max(ends)) if ends else None,
        "span_s": round(max(ends) - min(starts), 3) if starts and ends else 0.0,
        "wall_s": round(wall, 3),
        "gaps_s": round(max(0.0, max(ends) - min(starts) - wall), 3) if starts and ends else 0.0,
        "units": sum(s.units for s in found),
        "failed": found[-1].failed if found else 0,  # what is still failed after the last session
        "sequences": sum(s.sequences for s in found),
        "steals": sum(s.steals for s in found),
        "splits": sum(s.splits for s in found),
        "device_s": round(sum(s.device_s for s in found), 3),
        "gpu_hours": round(sum(s.wall_s * s.gpus for s in found) / 3600, 4),
        "device_hours": round(sum(s.wall_s * len(s.devices) for s in found) / 3600, 4),
        "devices": devices,
    }


def as_time(raw: object, kind: type = float) -> Any:
    """A number read from JSON (epoch seconds, a pid), or None; the helpers below coerce the same way."""
    return kind(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None


def as_int(raw: object) -> int:
    return int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else 0


def as_float(raw: object) -> float:
    return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else 0.0


def as_str(raw: object) -> str:
    return raw if isinstance(raw, str) else ""


def as_opt(raw: object) -> str | None:
    return str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) and str(raw) else None
