"""What a run leaves under ``--out``, and how a rerun resumes from it.

    run.json         at start: run id, main pid, worker pids, argv, inputs, start time,
                     where the control channel listens
    manifest.jsonl   one line per completed unit (its exact record range), appended as units finish
    summary.json     at the end: makespan, counts, per-device totals, exit code
    units/...        one result per unit (the task chooses the name)

Manifest rows are ``manifest.ManifestEntry``: the one definition the runner writes
and every reader (resume here, the report, ``lbtui attach``, ``lbtui verify``) reads back.
The manifest and the other append-only files are written by ``journal.py``:
whole lines only, so killing the main process (even with SIGKILL) or a full
disk loses at most the line being written, and a torn last line is cut off
before the next run appends. Result files are written atomically by workers.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import InputError, UsageError
from ..inputs.ranges import Coverage, Pos
from ..inputs.units import Unit
from . import vouch
from .atomic import atomic_write_text, remove_stale_temps
from .folder_format import FORMAT
from .journal import writing
from .manifest import ManifestEntry
from .reader import RUN_JSON, SUMMARY, manifest_entries, read_run


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
    """What earlier runs in ``out`` finished, by span: for each file, the manifest rows
    that tile parts of it without overlapping (latest first) and whose result files
    still hold what was written (``vouch.check``). What it will not keep, and why, is
    counted by result (``redo``), for the line the run prints before it starts."""

    def __init__(self, out: Path, task: str, fingerprint: str = "") -> None:
        """InputError (nothing written) when ``out`` holds a run this lbtui does not resume."""
        check_resumable(out)
        self.out, self.task, self.fingerprint = out, task, fingerprint
        self._by_file: dict[str, list[ManifestEntry]] = {}
        for entry in reversed(manifest_entries(out)):
            self._by_file.setdefault(entry.file, []).append(entry)
        self.kept: dict[str, Coverage[ManifestEntry]] = {}
        self.redo: Counter[str] = Counter()  # results redone, by why (vouch's reasons, STALE, INPUT_CHANGED)

    def done(self, whole: Unit) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """Spans of ``whole``'s file that need not run again (``plan_units``'s ``done``)."""
        rows = self._by_file.get(whole.rel, ())
        if not rows:
            return []  # nothing kept: no bookkeeping per file
        cov: Coverage[ManifestEntry] = Coverage(whole.count)
        refused: list[tuple[Pos, Pos, str]] = []
        for e in rows:  # latest first: a span redone later replaces the earlier row
            if not e.covers(whole):
                if e.file == whole.rel and e.sha256 != whole.sha256:
                    refused.append((e.begin, e.stop, INPUT_CHANGED))
                continue
            if cov.overlaps(e.begin, e.stop):
                continue
            why = STALE if (e.task, e.fingerprint) != (self.task, self.fingerprint) else vouch.check(self.out, e)
            if why is None:
                cov.add(e.begin, e.stop, e)
            else:
                refused.append((e.begin, e.stop, why))
        self._count_redone(cov, refused)
        if cov.empty:
            return []
        self.kept[whole.rel] = cov
        return [(b, s) for b, s, _ in cov.pieces()]

    def _count_redone(self, cov: Coverage[ManifestEntry], refused: list[tuple[Pos, Pos, str]]) -> None:
        """One count per span left to redo, under the newest row's reason."""
        seen = set()
        for begin, stop, why in refused:
            if (begin, stop) not in seen and not cov.overlaps(begin, stop):
                seen.add((begin, stop))
                self.redo[why] += 1

    def redo_line(self, changed: str = "") -> str | None:
        """``resuming: redoing 3 results: 2 changed since it was written, 1 missing``, or None.
        ``changed`` says what differs when results were made with other options or models."""
        total = sum(self.redo.values())
        if not total:
            return None
        reasons = ", ".join(f"{n} {why}" + (f" ({changed})" if why == STALE and changed else "")
                            for why, n in self.redo.most_common())
        return f"resuming: redoing {total} earlier result{'s' if total > 1 else ''} in {self.out}: {reasons}"


def check_resumable(out: Path) -> None:
    """A folder with a run.json, or with manifest lines, must be of this lbtui's format
    (folder_format.py): a run written by another never resumes under this one's rules."""
    where = f"--out {out}"
    if os.path.lexists(out / RUN_JSON):
        read_run(out, where)  # checks its format
    elif manifest_entries(out):
        raise InputError(f"{where}: holds manifest.jsonl but no {RUN_JSON}: not a run folder lbtui "
                         f"{__version__} resumes (use a new --out)")


STALE = "made with other options or models"
INPUT_CHANGED = "of an input that changed since"



def new_run_id(started: float) -> str:
    """Names one session of a run folder (a resume starts a new one)."""
    return time.strftime("%Y%m%dT%H%M%S", time.localtime(started)) + f"-{os.getpid()}"


def write_run_json(out: Path, *, run_id: str, argv: list[str], task: str, inputs: list[str],
                   devices: list[Mapping[str, Any]], started: float, control: Mapping[str, Any] | None = None,
                   metrics_log: str | None = None, fingerprint: str = "",
                   fingerprint_parts: Mapping[str, str] | None = None,
                   task_options: Mapping[str, Any] | None = None, slurm_job: str | None = None) -> None:
    data = {
        "format": FORMAT,  # which readers may read this folder (folder_format.py)
        "lbtui": __version__,
        "run_id": run_id,
        "main_pid": os.getpid(),
        "host": socket.gethostname(),  # where main_pid means something (attach from another node)
        "slurm_job": slurm_job,  # SLURM_JOB_ID; None outside Slurm
        "argv": argv,
        "task": task,
        "task_options": dict(task_options or {}),  # what lbtui verify rebuilds the task from
        "fingerprint": fingerprint,  # Task.fingerprint(): what the manifest's rows carry
        "fingerprint_parts": dict(fingerprint_parts or {}),  # ... and what it is made of, readable
        "inputs": inputs,
        "input_paths": [os.path.abspath(p) for p in inputs],  # where lbtui verify finds them again
        "metrics_log": os.path.abspath(metrics_log) if metrics_log else None,  # --metrics-log, for the report
        "out": str(out),
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "start_epoch": started,
        "devices": list(devices),
        "control": dict(control) if control else None,  # the channel's socket and key file (channel.py)
    }
    with writing(out / RUN_JSON, out):
        atomic_write_text(out / RUN_JSON, json.dumps(data, indent=2, default=str) + "\n")


def what_changed(out: Path, task: str, parts: Mapping[str, str]) -> str:
    """How this run's task options differ from those the folder's last run recorded
    (``chunk length 300 → 500``); "" when run.json does not say."""
    try:
        last = json.loads((out / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not isinstance(last, dict) or not isinstance(last.get("fingerprint_parts"), dict):
        return ""
    if last.get("task") != task:
        return f"the last run here ran task {str(last.get('task'))[:60]!r}"
    before = last["fingerprint_parts"]
    changes = [f"{key} {str(before.get(key, '?'))[:200]} → {parts.get(key, '?')}"
               for key in dict.fromkeys([*parts, *before]) if str(before.get(key)) != str(parts.get(key))]
    return ", ".join(changes) or "the model files changed"


def write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    with writing(out / SUMMARY, out):
        atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
