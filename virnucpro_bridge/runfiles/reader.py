"""Read a run folder into plain dataclasses, tolerating what a killed run leaves.

The folder must hold a readable ``run.json`` of this lbtui's format
(``folder_format.py``); every other piece is optional. A torn manifest line, a
missing ``summary.json`` (the run was SIGKILLed) or a garbled events line is
skipped and noted in ``problems``, so the page can say what it could not read
instead of failing.
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..control.snapshot import device_label
from ..errors import InputError
from ..inputs.units import span_uid
from .folder_format import check_format
from .history import sessions
from .manifest import MANIFEST, ManifestEntry
from .sessions import Session

if TYPE_CHECKING:
    pass

RUN_JSON, SUMMARY = "run.json", "summary.json"
EVENTS, METRICS, ERRORS_LOG = "events.jsonl", "metrics.csv", "errors.log"
ERROR_BLOCKS_KEPT = 500  # a page for people: the rest stays in errors.log


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    kind: str = ""
    weight: float | None = None

    @property
    def label(self) -> str:
        """The label the dashboard and the headless log use ('GPU0', 'SIM2')."""
        return device_label(self.kind, self.index) if self.kind else f"device {self.index}"


def manifest_entries(out: Path, problems: list[str] | None = None) -> list[ManifestEntry]:
    """Every readable line of ``out``'s manifest, in the order written. A line torn
    by a kill, written by hand or by a foreign tool is skipped (and counted in
    ``problems`` when given); unknown fields are ignored, missing ones take defaults."""
    entries: list[ManifestEntry] = []
    bad = 0
    for raw in _json_lines(out / MANIFEST, problems if problems is not None else []):
        entry = ManifestEntry.from_record(raw)
        if entry is None:
            bad += 1
            continue
        entries.append(entry)
    if bad and problems is not None:
        problems.append(f"{MANIFEST}: {bad} line(s) without a readable file/span skipped")
    return entries


@dataclass(frozen=True)
class UnitRow:
    """One completed unit: the manifest's last line for its span of the file (a
    resumed run that redid a span replaces the earlier line)."""

    file: str
    shard: int
    device_index: int
    sequences: int
    seconds: float
    stolen: bool
    attempt: int
    started: float | None  # epoch seconds (None: not recorded)
    ended: float | None
    earlier: bool  # done by an earlier session of a resumed run
    split_from: str | None = None
    cut_uid: str | None = None  # the uid of a piece cut in flight ("x.fa[1200:2000]")
    run_id: str = ""  # the session that made it

    @property
    def uid(self) -> str:
        if self.cut_uid:
            return self.cut_uid
        return self.file if self.shard == 0 else f"{self.file}#{self.shard}"


@dataclass(frozen=True)
class Event:
    time: float
    kind: str
    level: str
    message: str
    device: int | None
    unit: str | None
    action: str | None
    thief: int | None = None  # steal and split events only
    victim: int | None = None
    sequences: int | None = None  # steal and split events: records moved
    seq: int | None = None  # the run's event number (unique across the run's sessions)
    run_id: str | None = None  # the session that wrote it


@dataclass(frozen=True)
class Sample:
    """One metrics row: a device's readings at one refresh (None: not measured)."""

    time: float
    device: int
    seq_per_s: float | None
    util_pct: float | None
    mem_pct: float | None


@dataclass(frozen=True)
class ErrorBlock:
    stamp: str
    where: str
    text: str

    @property
    def last_line(self) -> str:
        lines = [ln for ln in self.text.splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""


@dataclass
class RunFolder:
    path: Path
    run: dict[str, Any]
    summary: dict[str, Any] | None
    devices: list[Device]
    units: list[UnitRow]
    events: list[Event]
    samples: list[Sample]
    metrics_source: str | None
    errors: list[ErrorBlock]
    errors_total: int
    inputs: list[str] | None
    problems: list[str] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)  # oldest first; this one (run.json's) included

    @property
    def session_units(self) -> list[UnitRow]:
        return [u for u in self.units if not u.earlier]


def load(out: Path, *, live: str | None = None) -> RunFolder:
    """Read ``out``; raise InputError when it is not a run folder this lbtui reads.
    ``live``: the run_id of a session the caller knows is running (its process is alive)."""
    run = read_run(out, str(out))
    problems: list[str] = []
    summary = _read_json(out / SUMMARY, problems)  # None: killed or still running (the status says so)
    entries = manifest_entries(out, problems)
    units = _read_manifest(entries, run.get("run_id"))
    samples, source = _read_metrics(out, run, problems)
    errors, total = _read_errors(out / ERRORS_LOG)
    events = _read_events(out / EVENTS, problems)
    inputs = run.get("inputs")
    return RunFolder(
        path=out, run=run, summary=summary, devices=_devices(run, summary, units), units=units,
        events=events, samples=samples, metrics_source=source,
        errors=errors, errors_total=total, problems=problems,
        inputs=[str(p) for p in inputs] if isinstance(inputs, list) else None,
        sessions=sessions(out, run=run, summary=summary, rows=entries, events=events, live=live),
    )


def earlier_sessions(out: Path) -> list[Session]:
    """The sessions a new session of the run in ``out`` follows (read before it starts:
    one without an end line was killed)."""
    problems: list[str] = []
    run = _read_json(out / RUN_JSON, problems) or {}
    return sessions(out, run=run, summary=_read_json(out / SUMMARY, problems), rows=manifest_entries(out),
                    events=_read_events(out / EVENTS, problems))


def read_run(out: Path, shown: str) -> dict[str, Any]:
    """run.json, or one line saying why OUT is not a run folder this lbtui reads."""
    if not out.is_dir():
        raise InputError(f"{shown}: no such folder")
    try:
        if not stat.S_ISREG((out / RUN_JSON).stat().st_mode):  # a FIFO would block the read
            raise InputError(f"{out / RUN_JSON}: not a regular file")
        run = json.loads((out / RUN_JSON).read_text())
    except FileNotFoundError:
        raise InputError(f"{shown}: not an lbtui run folder (no {RUN_JSON})") from None
    except PermissionError:
        raise InputError(f"{out / RUN_JSON}: permission denied (only the user who started the run "
                         "can attach)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{out / RUN_JSON}: unreadable ({exc})") from None
    if not isinstance(run, dict):
        raise InputError(f"{out / RUN_JSON}: not a run description")
    check_format(run, shown)
    return run


def session_summary(out: Path, run: dict[str, Any]) -> dict[str, Any] | None:
    """summary.json if this session of the run wrote it (a resumed run's old one does not count)."""
    try:
        summary = json.loads((out / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict):
        return None
    started, ended = run.get("start_epoch"), summary.get("finished_epoch")
    if isinstance(started, (int, float)) and isinstance(ended, (int, float)) and ended < started:
        return None
    return summary


SEQ_BLOCK = 1 << 16  # read back from the end of events.jsonl this much at a time
_SEQ = re.compile(rb'^\{"seq": (\d{1,18})[,}]', re.MULTILINE)


def last_event_seq(out: Path) -> int:
    """The last event ``seq`` in ``out``'s events.jsonl (0: none), so that a resumed
    session numbers its events after every earlier one. Seqs only grow through a run's
    sessions, so the file is read backwards, a block at a time, to the last whole line
    with one (a torn last line, without its newline, does not count)."""
    try:
        with open(out / EVENTS, "rb") as fh:
            return _last_seq(fh, fh.seek(0, os.SEEK_END))
    except OSError:
        return 0


def _last_seq(fh: BinaryIO, size: int) -> int:
    end, rest, whole = size, b"", False  # rest: the start of a line that began in an earlier block
    while end > 0:
        start = max(0, end - SEQ_BLOCK)
        fh.seek(start)
        data = fh.read(end - start) + rest
        end = start
        if not whole:  # the file's last block: drop what follows its last newline
            data, whole = data[: data.rfind(b"\n") + 1], data.rfind(b"\n") >= 0
            if not whole:
                rest = b""
                continue
        first = 0 if start == 0 else data.find(b"\n") + 1
        if first == 0 and start > 0:  # no line starts in this block
            rest = data
            continue
        found = [int(m.group(1)) for m in _SEQ.finditer(data, first)]
        if found:
            return max(found)
        rest = data[:first]
    return 0


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable ({exc})")
        return None
    return data if isinstance(data, dict) else None


def _json_lines(path: Path, problems: list[str]) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    bad = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(raw, dict):
                yield raw
    if bad:
        problems.append(f"{path.name}: {bad} unreadable line(s) skipped (a line torn by a kill)")


def _num(raw: Any, kind: type = float) -> Any:
    try:
        return None if raw is None or raw == "" else kind(raw)
    except (TypeError, ValueError):
        return None


def _read_manifest(entries: list[ManifestEntry], run_id: str | None) -> list[UnitRow]:
    rows: dict[tuple[str, int, int], UnitRow] = {}
    for e in entries:
        earlier = run_id is not None and e.run_id != run_id
        rows[(e.file, e.start, e.part)] = UnitRow(
            file=e.file, shard=e.shard, device_index=e.device_index, sequences=e.sequences,
            seconds=float(e.seconds), stolen=e.stolen, attempt=e.attempt,
            started=float(e.started) if e.started else None, ended=float(e.ended) if e.ended else None,
            earlier=earlier, split_from=e.split_from or None,
            cut_uid=span_uid(e.file, e.begin, e.stop) if e.split_from else None, run_id=e.run_id,
        )
    return list(rows.values())


def _read_events(path: Path, problems: list[str]) -> list[Event]:
    events = []
    for raw in _json_lines(path, problems):
        when = _num(raw.get("time"))
        if when is None:
            continue
        events.append(Event(
            time=when, kind=str(raw.get("kind") or "info"), level=str(raw.get("level") or "info"),
            message=str(raw.get("message") or ""), device=_num(raw.get("device"), int),
            unit=raw.get("unit") if isinstance(raw.get("unit"), str) else None,
            action=raw.get("action") if isinstance(raw.get("action"), str) else None,
            thief=_num(raw.get("thief"), int), victim=_num(raw.get("victim"), int),
            sequences=_num(raw.get("sequences"), int), seq=_num(raw.get("seq"), int),
            run_id=raw.get("run_id") if isinstance(raw.get("run_id"), str) else None,
        ))
    events.sort(key=lambda e: e.time)
    return events


def _devices(run: dict[str, Any], summary: dict[str, Any] | None, units: list[UnitRow]) -> list[Device]:
    found: dict[int, Device] = {}
    for d in (summary or {}).get("devices") or []:
        if isinstance(d, dict) and _num(d.get("index"), int) is not None:
            found[int(d["index"])] = Device(int(d["index"]), str(d.get("name") or d["index"]),
                                            str(d.get("kind") or ""), _num(d.get("weight")))
    for d in run.get("devices") or []:
        if isinstance(d, dict) and _num(d.get("index"), int) is not None:
            i = int(d["index"])
            found.setdefault(i, Device(i, str(d.get("device") or i), str(d.get("kind") or ""),
                                       _num(d.get("weight"))))
    for u in units:  # a device only the manifest knows (an earlier session's)
        found.setdefault(u.device_index, Device(u.device_index, ""))
    return [found[i] for i in sorted(found)]


def _read_metrics(out: Path, run: dict[str, Any], problems: list[str]) -> tuple[list[Sample], str | None]:
    """The run's own metrics.csv (epoch times), else its --metrics-log CSV (local ISO times)."""
    candidates = [out / METRICS]
    if isinstance(run.get("metrics_log"), str):  # recorded as an absolute path
        candidates.append(Path(run["metrics_log"]))
    for path in candidates:
        if path.is_file():
            try:
                return _parse_metrics(path), str(path)
            except (OSError, csv.Error) as exc:
                problems.append(f"{path}: unreadable ({exc})")
    return [], None


def _parse_metrics(path: Path) -> list[Sample]:
    samples = []
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            when = _num(row.get("time")) if "time" in row else _iso_epoch(row.get("timestamp"))
            device = _num(row.get("device"), int)
            if when is None or device is None:
                continue  # a torn last row
            samples.append(Sample(when, device, _num(row.get("seq_per_s")),
                                  _num(row.get("util_pct")), _num(row.get("mem_pct"))))
    return samples


def _iso_epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()  # local time, as the run wrote it
    except ValueError:
        return None


_HEADER = re.compile(r"^--- (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.*)$")


def _read_errors(path: Path) -> tuple[list[ErrorBlock], int]:
    """errors.log blocks (the first ERROR_BLOCKS_KEPT) and how many there are in all."""
    if not path.is_file():
        return [], 0
    blocks: list[ErrorBlock] = []
    total = 0
    head: tuple[str, str] | None = None
    body: list[str] = []

    def close() -> None:
        if head is not None and len(blocks) < ERROR_BLOCKS_KEPT:
            blocks.append(ErrorBlock(head[0], head[1], "\n".join(body)))

    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _HEADER.match(line.rstrip("\n"))
            if m:
                close()
                head, body, total = (m.group(1), m.group(2)), [], total + 1
            elif head is not None:
                body.append(line.rstrip("\n"))
    close()
    return blocks, total
