"""The files a run appends to while it goes, all under ``--out``::

    manifest.jsonl   one line per completed unit (the resume key)
    events.jsonl     every run event: steals, splits, retries, failures, controls
    metrics.csv      per device, per refresh: seq/s, util, memory, queue, done
    errors.log       tracebacks of failed units, setups and internal errors
    sessions.jsonl   a line when each session starts and one when it ends (sessions.py)

Every append is all or nothing: a line is written with one ``os.write`` on an
``O_APPEND`` descriptor, and a write that fails part way (a full disk) is cut
back to the last whole line, so readers and a later resume only ever see whole
lines. A torn line left by a killed process is dropped when the file is next
opened. Any ``OSError`` becomes an :class:`~virnucpro_bridge.errors.OutputError`
that says what happened and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..control.snapshot import RunEvent, RunSnapshot
from ..errors import OutputError, environment_error
from .manifest import MANIFEST, ManifestEntry
from .sessions import SESSIONS

EVENTS = "events.jsonl"
METRICS = "metrics.csv"
ERRORS_LOG = "errors.log"
METRICS_HEADER = "time,device,seq_per_s,util_pct,mem_pct,queue,done\n"


def output_error(exc: OSError, path: Path, out_dir: Path) -> OutputError:
    """The one line a user sees when ``path`` under ``out_dir`` cannot be written."""
    if exc.filename is None:
        exc.filename = str(path)
    message = environment_error(exc, str(out_dir))
    if message is None:
        message = f"cannot write {path}: {exc.strerror or exc}; run the same command again to resume"
    return OutputError(message)


@contextlib.contextmanager
def writing(path: Path, out_dir: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise output_error(exc, path, out_dir) from exc


def repair_tail(path: Path) -> int:
    """Cut a torn last line (no trailing newline) off ``path``; returns bytes removed."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "r+b") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # Walk back to the last newline in blocks; the torn line is short.
        end, block = size, 65536
        keep = 0
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            chunk = fh.read(end - start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        fh.truncate(keep)
        return size - keep


class AppendFile:
    """An append-only file of whole lines."""

    def __init__(self, path: Path, out_dir: Path, *, header: str = "") -> None:
        self.path, self.out_dir = path, out_dir
        with writing(path, out_dir):
            repair_tail(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size  # only this object appends: kept, not asked per line
            if header and self._size == 0:
                self._write(header.encode())

    def append_lines(self, lines: Iterable[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode()
        if data:
            with writing(self.path, self.out_dir):
                self._write(data)

    def _write(self, data: bytes) -> None:
        before = self._size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)  # no half line for readers or a resume
            raise
        self._size = before + len(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class Journal:
    """Owns the run's append-only files. Called from the dispatcher thread only."""

    def __init__(self, out_dir: Path, *, run_id: str = "", last_event: int = 0) -> None:
        """``run_id`` marks each event line with its session; ``last_event``: the highest
        ``seq`` already in events.jsonl (an earlier session's), which this one continues."""
        self.out_dir = out_dir
        self.run_id = run_id
        self.manifest = AppendFile(out_dir / MANIFEST, out_dir)
        self.events = AppendFile(out_dir / EVENTS, out_dir)
        self.metrics = AppendFile(out_dir / METRICS, out_dir, header=METRICS_HEADER)
        self.sessions = AppendFile(out_dir / SESSIONS, out_dir)
        self._last_event = last_event

    def unit_done(self, entry: ManifestEntry) -> None:
        self.manifest.append_lines([entry.line()])

    def new_events(self, events: Iterable[RunEvent]) -> None:
        """Append the events not written yet (``seq`` grows by one per event)."""
        fresh = [e for e in events if e.seq > self._last_event]
        if not fresh:
            return
        self.events.append_lines(json.dumps(event_record(e, self.run_id)) for e in fresh)
        self._last_event = fresh[-1].seq

    def session_line(self, record: dict[str, Any]) -> None:
        self.sessions.append_lines([json.dumps(record)])

    def sample(self, snap: RunSnapshot) -> None:
        self.metrics.append_lines(
            f"{snap.time:.3f},{d.index},{_num(d.throughput)},{_num(d.utilization, 1)},"
            f"{_num(d.memory, 1)},{d.queue_depth},{d.units_done}" for d in snap.devices)

    def error(self, where: str, text: str) -> None:
        path = self.out_dir / ERRORS_LOG
        with writing(path, self.out_dir), open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {where}\n{text.rstrip()}\n")

    def close(self) -> None:
        for f in (self.manifest, self.events, self.metrics, self.sessions):
            f.close()


def event_record(e: RunEvent, run_id: str = "") -> dict[str, Any]:
    """An events.jsonl line (read back by ``reader.Event``). ``seq`` comes first: the
    next session finds the last one by it (``reader.last_event_seq``)."""
    record = {"seq": e.seq, "time": round(e.time, 3), "kind": e.kind, "level": e.level,
              "message": e.message, "device": e.device, "unit": e.unit, "action": e.action}
    if e.steal is not None:
        record.update(thief=e.steal.thief, victim=e.steal.victim, unit=e.steal.unit,
                      sequences=e.steal.sequences)
    if run_id:
        record["run_id"] = run_id
    return record


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"
