"""What a run leaves under ``--out``, and how a rerun resumes from it.

    run.json         at start: run id, main pid, worker pids, argv, inputs, start time,
                     where the control channel listens
    manifest.jsonl   one line per completed unit (its exact record range), appended as units finish
    summary.json     at the end: makespan, counts, per-device totals, exit code
    units/...        one result per unit (the task chooses the name)

Manifest rows are ``reader.ManifestEntry``: the one definition the runner writes
and every reader (resume here, the report, ``lbtui attach``) reads back.
The manifest and the other append-only files are written by ``journal.py``:
whole lines only, so killing the main process (even with SIGKILL) or a full
disk loses at most the line being written, and a torn last line is cut off
before the next run appends. Result files are written atomically by workers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from ..errors import UsageError
from ..inputs.ranges import Coverage, keep_tiling
from ..inputs.units import Unit
from .atomic import atomic_write_text, remove_stale_temps
from .journal import writing
from .reader import RUN_JSON, SUMMARY, ManifestEntry, manifest_entries


def check_folder(folder: Path, what: str) -> None:
    """Fail early (exit 2, nothing written) when ``folder`` can be neither
    used nor created: its nearest existing ancestor must be a writable folder."""
    probe = Path(os.path.abspath(folder))
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{what}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{what}: {probe} is not writable")


def check_writable(out: Path) -> None:
    check_folder(out, f"--out {out}")


RESULT_FOLDERS = ("units", "results")  # where tasks write; the only places temps are swept


def prepare_out(out: Path) -> None:
    """Create ``out`` and sweep temp files a killed run left where lbtui
    writes (not the rest of the folder: ``--out .`` must stay cheap and safe)."""
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, recursive=False)
    for name in RESULT_FOLDERS:
        if (out / name).is_dir():
            remove_stale_temps(out / name)


class Resume:
    """What earlier runs in ``out`` finished, by span: for each file, the usable
    manifest rows that tile parts of it without overlapping (latest first)."""

    def __init__(self, out: Path, task: str, fingerprint: str = "") -> None:
        self.out, self.task, self.fingerprint = out, task, fingerprint
        self._by_file: dict[str, list[ManifestEntry]] = {}
        for entry in reversed(manifest_entries(out)):
            self._by_file.setdefault(entry.file, []).append(entry)
        self.kept: dict[str, Coverage[ManifestEntry]] = {}

    def done(self, whole: Unit) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """Spans of ``whole``'s file that need not run again (``plan_units``'s ``done``)."""
        rows = [e for e in self._by_file.get(whole.rel, ())
                if e.usable(whole, self.task, self.fingerprint, self.out)]
        if not rows:
            return []  # nothing kept: no bookkeeping per file
        cov = keep_tiling(whole.count, ((e.begin, e.stop, e) for e in rows))
        self.kept[whole.rel] = cov
        return [(b, s) for b, s, _ in cov.pieces()]


def completed_units(units: Iterable[Unit], out: Path, task: str, fingerprint: str = "") -> set[str]:
    """uids of units whose every record an earlier run finished (kept rows tile its range)."""
    resume = Resume(out, task, fingerprint)
    done = set()
    for unit in units:
        whole = replace(unit, uid=unit.rel, start=0, count=unit.end, part=0, end_part=0)  # as far as it reaches
        rows = [e for e in resume._by_file.get(unit.rel, ())
                if e.usable(whole, task, fingerprint, out) and unit.begin <= e.begin and e.stop <= unit.stop]
        cov = keep_tiling(unit.end, ((e.begin, e.stop, e) for e in rows))
        if _covers(cov, unit):
            done.add(unit.uid)
    return done


def _covers(cov: Coverage, unit: Unit) -> bool:
    """The kept spans tile ``unit``'s span exactly."""
    at = tuple(unit.begin)
    for begin, stop, _ in cov.pieces():
        if tuple(begin) != at:
            return False
        at = tuple(stop)
    return at == tuple(unit.stop)


def new_run_id(started: float) -> str:
    """Names one session of a run folder (a resume starts a new one)."""
    return time.strftime("%Y%m%dT%H%M%S", time.localtime(started)) + f"-{os.getpid()}"


def write_run_json(out: Path, *, run_id: str, argv: list[str], task: str, inputs: list[str],
                   devices: list[Mapping], started: float, control: Mapping | None = None,
                   metrics_log: str | None = None) -> None:
    data = {
        "run_id": run_id,
        "main_pid": os.getpid(),
        "argv": argv,
        "task": task,
        "inputs": inputs,
        "metrics_log": os.path.abspath(metrics_log) if metrics_log else None,  # --metrics-log, for the report
        "out": str(out),
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "start_epoch": started,
        "devices": list(devices),
        "control": dict(control) if control else None,  # the channel's socket and key file (channel.py)
    }
    with writing(out / RUN_JSON, out):
        atomic_write_text(out / RUN_JSON, json.dumps(data, indent=2) + "\n")


def write_summary(out: Path, summary: Mapping) -> None:
    with writing(out / SUMMARY, out):
        atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
