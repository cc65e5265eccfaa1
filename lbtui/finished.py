"""A run that has ended, as the dashboard's snapshots: built from what it left in OUT.

``lbtui attach`` on a finished run needs no live channel: summary.json has the
totals and per-device figures, the manifest each unit, events.jsonl the log and
metrics.csv the readings over time (read by ``virnucpro_bridge.runfiles.reader``, which tolerates
what a killed run leaves). Views are built by field name through
``wire.from_plain``, so fields the engine adds later get their defaults.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import psutil

from virnucpro_bridge.control import CommandError
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.control.wire import from_plain
from virnucpro_bridge.errors import InputError
from virnucpro_bridge.inputs.units import summarize_inputs
from virnucpro_bridge.runfiles.reader import Event, RunFolder, load, read_run

EVENTS_KEPT = 200  # as many as a live snapshot carries
PID_SLACK_S = 5.0  # a process that started this much after run.json's start is a reused pid


def pid_alive(pid: object, started: object = None) -> bool:
    """The run's main process still exists (not a zombie, not a later process with its pid)."""
    if not isinstance(pid, int):
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not isinstance(started, (int, float)) or proc.create_time() <= started + PID_SLACK_S
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # someone else's process: it exists


def live_session(out: Path) -> str | None:
    """The run_id of the session running in ``out`` now, if one is: run.json's main
    process exists on this host (a run on another host cannot be checked from here)."""
    try:
        run = read_run(out, str(out))  # a regular file, of this lbtui's format
    except InputError:
        return None
    if not isinstance(run.get("run_id"), str):
        return None
    host = run.get("host")
    if isinstance(host, str) and host and host != socket.gethostname():
        return None
    return run["run_id"] if pid_alive(run.get("main_pid"), run.get("start_epoch")) else None


def replay_numbers(events: list[Event]) -> list[tuple[int, Event]]:
    """Each event with its number, in number order: the ``seq`` events.jsonl recorded
    when every line has one and no two share one, else (a damaged or hand-edited file)
    its position in time, so that a log showing only ``seq > last`` shows every line."""
    recorded = {e.seq for e in events if e.seq is not None}
    if len(recorded) == len(events):
        return sorted(((e.seq, e) for e in events), key=lambda p: p[0])  # type: ignore[misc]
    return list(enumerate(events, start=1))


class FinishedRun:
    """SnapshotSource over a finished run folder; every command is refused."""

    def __init__(self, out: Path, run: dict[str, Any], summary: dict[str, Any]) -> None:
        self.out = out
        self.run = run
        self.summary = summary
        self.folder: RunFolder = load(out)
        self._snapshot = self._build()

    def _build(self) -> S.RunSnapshot:
        summary, folder = self.summary, self.folder
        per_device = {d.get("index"): d for d in summary.get("devices") or [] if isinstance(d, dict)}
        devices = []
        for dev in folder.devices:
            figures = per_device.get(dev.index, {})
            busy, seqs = float(figures.get("busy_s") or 0.0), int(figures.get("sequences") or 0)
            devices.append({
                "index": dev.index, "name": dev.name, "kind": dev.kind or figures.get("kind", ""),
                "state": figures.get("final_state") or S.DONE, "weight": dev.weight or 0.0,
                "throughput": seqs / busy if busy > 0 else None,
                "units_done": figures.get("files_done", 0), "units_failed": figures.get("files_failed", 0),
                "sequences_done": seqs, "stolen_in": figures.get("stolen_in", 0),
                "stolen_out": figures.get("stolen_out", 0), "busy_s": busy,
                "reason": figures.get("reason"), "source": figures.get("source") or "",
                "task_notes": sorted((str(k), str(v)) for k, v in (figures.get("task_notes") or {}).items()),
                "time_split": list((figures.get("time_split_s") or {}).items()),
                "energy_wh": figures.get("energy_wh"),
                "task_counts": list((figures.get("task_counts") or {}).items()),
            })
        events = []
        for seq, ev in replay_numbers(folder.events)[-EVENTS_KEPT:]:
            steal = None
            if ev.kind in (S.EV_STEAL, S.EV_SPLIT) and ev.thief is not None and ev.victim is not None:
                steal = {"seq": seq, "time": ev.time, "thief": ev.thief, "victim": ev.victim,
                         "unit": ev.unit or "", "sequences": ev.sequences or 0}
            events.append({"seq": seq, "time": ev.time, "kind": ev.kind, "level": ev.level,
                           "message": ev.message, "device": ev.device, "unit": ev.unit,
                           "action": ev.action, "steal": steal})
        started = summary.get("started_epoch") or self.run.get("start_epoch")
        ended = summary.get("finished_epoch") or started or 0.0
        sequences = int(summary.get("sequences") or 0)
        return from_plain(S.RunSnapshot, {
            "time": ended, "name": summarize_inputs(self.run.get("inputs") or []),
            "task": summary.get("task") or self.run.get("task", ""), "out_dir": str(self.out),
            "started_at": started, "elapsed": summary.get("makespan_s") or 0.0, "eta": None,
            "devices": devices, "units_total": summary.get("files_total", 0),
            "units_done": summary.get("files_done", 0), "units_skipped": summary.get("files_skipped", 0),
            "units_failed": summary.get("files_failed", 0), "units_in_flight": 0,
            "sequences_total": sequences, "sequences_done": sequences, "throughput": None,
            "stealing": True, "steals_total": summary.get("steals", 0),
            "steals": [e["steal"] for e in events if e["steal"] and e["kind"] == S.EV_STEAL], "events": events,
            "errors": [f"{f.get('unit')}: {f.get('error')}" for f in summary.get("failures") or []],
            "finished": True, "stopping": False, "exit_code": summary.get("exit_code"), "summary": summary,
            "error": summary.get("internal_error"), "notices": summary.get("notices") or [],
        })

    def snapshot(self) -> S.RunSnapshot:
        return self._snapshot

    def device_detail(self, index: int) -> S.DeviceDetail:
        view = next((d for d in self._snapshot.devices if d.index == index), None)
        if view is None:
            raise IndexError(index)
        samples = [s for s in self.folder.samples if s.device == index]
        units = [S.UnitRecord(unit=u.uid, sequences=u.sequences, seconds=u.seconds, stolen=u.stolen, ok=True,
                              finished_at=u.ended or 0.0)
                 for u in self.folder.session_units if u.device_index == index]
        units.sort(key=lambda u: u.finished_at)
        return S.DeviceDetail(
            device=view,
            throughput_history=tuple((s.time, s.seq_per_s) for s in samples if s.seq_per_s is not None),
            utilization_history=tuple((s.time, s.util_pct) for s in samples if s.util_pct is not None),
            units=tuple(units[-1000:]), errors=(),
        )

    # RunCommands: nothing to steer any more
    def _finished(self, *_args: object, **_kwargs: object) -> str:
        raise CommandError("the run has finished: there is nothing left to change")

    pause = resume = drain = set_stealing = stop = _finished
