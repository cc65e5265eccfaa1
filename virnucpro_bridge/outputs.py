"""What a run leaves under ``--out``, and how a rerun resumes from it.

    run.json         at start: main pid, worker pids, argv, start time
    manifest.jsonl   one line per completed unit, appended as units finish
    summary.json     at the end: makespan, counts, per-device totals
    units/...        one result per unit (the task chooses the name)

The manifest is append-only and flushed per line, so killing the main
process (even with SIGKILL) loses at most a line being written; a torn last
line is ignored on resume. Result files are written atomically by workers.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Mapping

from .atomic import atomic_write_text, remove_stale_temps
from .errors import UsageError
from .units import Unit

MANIFEST = "manifest.jsonl"
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


class ManifestWriter:
    """Appends one JSON line per completed unit, flushed at once."""

    def __init__(self, out: Path) -> None:
        self._fh: IO[str] = open(out / MANIFEST, "a", encoding="utf-8")
        # A previous run killed mid-line leaves a torn line: start on a fresh one.
        if self._fh.tell() > 0:
            with open(out / MANIFEST, "rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    self._fh.write("\n")

    def append(self, entry: ManifestEntry) -> None:
        self._fh.write(json.dumps(entry.__dict__, separators=(", ", ": ")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def write_run_json(out: Path, *, argv: list[str], task: str, devices: list[Mapping], started: float) -> None:
    data = {
        "main_pid": os.getpid(),
        "argv": argv,
        "task": task,
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "start_epoch": started,
        "devices": list(devices),
    }
    atomic_write_text(out / RUN_JSON, json.dumps(data, indent=2) + "\n")


def write_summary(out: Path, summary: Mapping) -> None:
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
