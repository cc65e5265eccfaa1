"""What crosses the pipe between the dispatcher and a worker, as small classes.

    dispatcher ── WorkItem | WorkBatch | STOP ──▶ worker
    dispatcher ── Cut (while a unit runs) ──▶ worker ── CutAt ──▶ dispatcher
    dispatcher ── Withdraw ──▶ worker ── Withdrawn ──▶ dispatcher
    dispatcher ◀── Ready | Done | Failed | SetupFailed ── worker

A ``WorkBatch`` carries units *sent ahead* (``backends/local/ahead.py``): the
worker runs them in order after the one it has, unless a ``Withdraw`` reaches
it first; it then drops those it has not started and says how many. ``Done``
and ``Failed`` name their unit, so the dispatcher knows which one ended.

A ``CutAt`` with a boundary always reaches the dispatcher before that unit's
``Done`` (one pipe, in order); a cut the worker cannot honour (the unit is
over, or it is already past ``until``) is answered ``CutAt(uid, None)``.
Cut points are positions ``(record, part)`` in the file (``inputs.work``).

Plain frozen dataclasses (pickled by ``Connection.send``), read by name, not
by tuple position. ``Wakeup`` is the self-pipe that lets other threads (the
UI's commands, a signal handler) interrupt the dispatcher's ``wait()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..inputs.units import Unit

Report = Mapping[str, Any]  # one worker's last report: heartbeat, progress, readings ... (worker.py writes it)
Reports = Mapping[int, Report]  # by device index: a copy of the shared dict the workers report into


@dataclass(frozen=True)
class WorkItem:
    unit: Unit
    output: str  # absolute path the task must write (atomically)
    attempt: int


@dataclass(frozen=True)
class WorkBatch:
    """Several units in one message (the first may be the one to run now, the
    rest are sent ahead): one pickle, one write and one wake-up for all."""

    items: tuple[WorkItem, ...]


STOP = None  # sent instead of a WorkItem: finish the unit running, drop those sent ahead, exit


@dataclass(frozen=True)
class Withdraw:
    """Drop every unit sent ahead that has not started; answer ``Withdrawn``."""


@dataclass(frozen=True)
class Withdrawn:
    """How many units sent ahead the worker dropped (the last ones it was sent).
    Every unit it started was answered (Done/Failed) before this."""

    count: int


@dataclass(frozen=True)
class Cut:
    """Stop ``uid`` at position ``at`` (absolute (record, part) in the file), or at
    the first position it can stop at after that, as long as it is not past
    ``until`` (beyond it the other device's share would be too small to pay)."""

    uid: str
    at: tuple[int, int]
    until: tuple[int, int]


@dataclass(frozen=True)
class CutAt:
    """The worker's answer to a Cut: the position it will stop before (absolute),
    or None: too late, it finishes the whole unit."""

    uid: str
    at: tuple[int, int] | None


@dataclass(frozen=True)
class Ready:
    """Setup finished; the worker waits for work."""

    pid: int


@dataclass(frozen=True)
class Done:
    sequences: int
    seconds: float  # time inside run_unit (monotonic)
    started: float  # epoch seconds, worker clock
    ended: float
    node: str = ""  # Ray node id of the actor that ran it ("" on the local backend)
    uid: str = ""  # the unit's uid (local backend: it may have been sent ahead)
    output_sha256: str = ""  # the result file as written (runfiles/vouch.py): the manifest records it
    output_size: int = -1


@dataclass(frozen=True)
class Failed:
    error: str  # one line for logs and the dashboard
    traceback: str
    permanent: bool  # UnitError: retrying elsewhere will not help
    environment: str | None = None  # the output disk's fault: the whole run must stop
    device_fault: bool = False  # a CUDA error: the device's fault, not the unit's (hardware/faults.py)
    uid: str = ""  # the unit's uid (local backend: it may have been sent ahead)


@dataclass(frozen=True)
class SetupFailed:
    error: str
    traceback: str


Reply = Ready | Done | Failed | SetupFailed | CutAt | Withdrawn


class Wakeup:
    """A non-blocking self-pipe. ``wake()`` is safe from any thread and from a
    signal handler (one ``os.write``, no lock); the dispatcher waits on
    ``fileno()`` with its pipes and calls ``clear()`` when woken."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def fileno(self) -> int:
        return self._r

    def wake(self) -> None:
        try:
            os.write(self._w, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is pending anyway) or closed

    def clear(self) -> None:
        try:
            while os.read(self._r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
