"""What a run leaves under ``--out``, and how a rerun resumes from it.

    run.json         at start: run id, main pid, worker pids, argv, inputs, start time
    manifest.jsonl   one line per completed unit, appended as units finish
    summary.json     at the end: makespan, counts, per-device totals, exit code
    units/...        one result per unit (the task chooses the name)

The manifest and the other append-only files are written by ``journal.py``:
whole lines only, so killing the main process (even with SIGKILL) or a full
disk loses at most the line being written, and a torn last line is cut off
before the next run appends. Result files are written atomically by workers.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .atomic import atomic_write_text, remove_stale_temps
from .errors import UsageError
from .journal import MANIFEST, writing
from .units import Unit

RUN_JSON = "run.json"
SUMMARY = "summary.json"


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


@dataclass(frozen=True)
class ManifestEntry:
    file: str
    shard: int
    device_index: int
    device: str
    sequences: int
    seconds: float
    stolen: bool
    attempt: int
    output: str
    sha256: str = ""
    start: int = 0
    count: int = 0
    task: str = ""
    fingerprint: str = ""  # Task.fingerprint(): options and models that shape outputs
    run_id: str = ""  # the session that made it (run.json's run_id)
    started: float = 0.0  # epoch seconds, worker clock
    ended: float = 0.0
    node: str = ""  # Ray node id of the actor that ran it ("" on the local backend)

    def matches(self, unit: Unit, task: str, fingerprint: str, out: Path) -> bool:
        """True when this entry is a finished result for exactly this unit,
        made by the same task with the same options and models."""
        return (
            self.sha256 == unit.sha256
            and self.start == unit.start
            and self.count == unit.count
            and self.task == task
            and self.fingerprint == fingerprint
            and (out / self.output).is_file()
        )


def load_manifest(out: Path) -> dict[tuple[str, int], ManifestEntry]:
    """Entries by (file, shard); later lines win. Torn or foreign lines are skipped."""
    entries: dict[tuple[str, int], ManifestEntry] = {}
    path = out / MANIFEST
    if not path.is_file():
        return entries
    fields = set(ManifestEntry.__dataclass_fields__)
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                raw = json.loads(line)
                entry = ManifestEntry(**{k: v for k, v in raw.items() if k in fields})
            except (ValueError, TypeError):
                continue  # a line torn by a kill mid-write, or written by hand
            entries[(entry.file, entry.shard)] = entry
    return entries


def completed_units(units: Iterable[Unit], out: Path, task: str, fingerprint: str = "") -> set[str]:
    """uids of units whose results from an earlier run can be kept."""
    entries = load_manifest(out)
    done = set()
    for unit in units:
        entry = entries.get((unit.rel, unit.shard))
        if entry is not None and entry.matches(unit, task, fingerprint, out):
            done.add(unit.uid)
    return done


def new_run_id(started: float) -> str:
    """Names one session of a run folder (a resume starts a new one)."""
    return time.strftime("%Y%m%dT%H%M%S", time.localtime(started)) + f"-{os.getpid()}"


def write_run_json(out: Path, *, run_id: str, argv: list[str], task: str, inputs: list[str],
                   devices: list[Mapping], started: float) -> None:
    data = {
        "run_id": run_id,
        "main_pid": os.getpid(),
        "argv": argv,
        "task": task,
        "inputs": inputs,
        "out": str(out),
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "start_epoch": started,
        "devices": list(devices),
    }
    with writing(out / RUN_JSON, out):
        atomic_write_text(out / RUN_JSON, json.dumps(data, indent=2) + "\n")


def write_summary(out: Path, summary: Mapping) -> None:
    with writing(out / SUMMARY, out):
        atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
