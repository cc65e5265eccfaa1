"""``--metrics-log FILE``: CSV rows, one per device per refresh, in every mode.

``timestamp`` is local time with its UTC offset, ISO 8601 to the millisecond
(``2025-01-31T14:03:07.250+01:00``): readable in a log, and exact across time
zones and daylight-saving changes. The run's own ``metrics.csv`` keeps epoch
seconds (``time``) for programs; both describe the same samples.
"""

from __future__ import annotations

import csv
import os
from datetime import datetime
from pathlib import Path

from ..control.snapshot import RunSnapshot
from ..errors import UsageError
from .outputs import check_folder

HEADER = ("timestamp", "device", "seq_per_s", "util_pct", "mem_pct", "queue", "done")


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def check_writable(path: str) -> None:
    """Fail before the run starts (exit 2) when FILE cannot be appended to."""
    if os.path.isdir(path):
        raise UsageError(f"--metrics-log {path}: is a folder")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise UsageError(f"--metrics-log {path}: not writable")
        return
    # Its folder may not exist yet (e.g. inside a new --out): it is created at start.
    check_folder(Path(os.path.abspath(path)).parent, f"--metrics-log {path}")


class MetricsLog:
    """Appends to FILE (header written once, when the file is new or empty)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._fh = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 (open for the run; close() closes it)
        self._csv = csv.writer(self._fh)
        if new:
            self._csv.writerow(HEADER)
            self._fh.flush()

    def append(self, snap: RunSnapshot) -> None:
        stamp = datetime.fromtimestamp(snap.time).astimezone().isoformat(timespec="milliseconds")
        for d in snap.devices:
            self._csv.writerow((stamp, d.index, _num(d.throughput), _num(d.utilization, 1),
                                _num(d.memory, 1), d.queue_depth, d.units_done))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
