"""The worker process: one per device, spawned (safe with CUDA).

Data flow (one pipe per worker, plus the shared Manager dict)::

    dispatcher ── WorkItem ──▶ worker ── task.run_unit(unit) ──▶ result file
        ▲                        │
        └── Done | Failed ───────┤
                                 └── reporter thread ──▶ status[index]
                                      (heartbeat, progress, util, memory, task notes and
                                       counts, where its time went, energy)

It loads the task's models once, then runs the units it is sent (``messages.py``),
in order (units sent ahead wait in ``Inbox``), until ``STOP`` or its pipe closes.
Exceptions go back with their traceback text; nothing is swallowed. A watchdog
thread ends the process when the main process dies: no orphan keeps GPU memory.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, MutableMapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ...coordinator.messages import (
    STOP,
    Cut,
    CutAt,
    Done,
    Failed,
    Ready,
    SetupFailed,
    Withdraw,
    Withdrawn,
    WorkBatch,
    WorkItem,
)
from ...errors import UnitError, environment_error
from ...hardware.binding import BindingError, bind, check_bound
from ...hardware.cpus import set_thread_env
from ...hardware.devices import DeviceSpec
from ...hardware.energy import EnergyMeter
from ...hardware.faults import is_device_fault
from ...hardware.memory_wait import MemoryWait
from ...hardware.nvml import parent_uuid
from ...inputs.units import Unit
from ...inputs.work import records_started
from ...runfiles.vouch import digest
from ...tasks.phases import PhaseClock
from .signals import ignore_stop_signals

POLL_INTERVAL_S = 0.05  # how often a running unit looks at its pipe for a Cut (cheap, non-blocking)
REPORT_INTERVAL_S = 0.5  # how often the reporter writes to the Manager dict
BUSY_WINDOW_S = 5.0  # utilization of CPU/sim devices: busy fraction over this window
WATCHDOG_INTERVAL_S = 0.5  # orphan check period: "exit within a few seconds"


def watch_parent(parent_pid: int) -> None:
    """Exit hard once the parent is gone (re-parented to init or a subreaper)."""

    def loop() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(3)
            time.sleep(WATCHDOG_INTERVAL_S)

    threading.Thread(target=loop, name="lbtui-watchdog", daemon=True).start()


def manager_initializer(parent_pid: int) -> None:
    """Runs inside the Manager's server process: same orphan rule, and leave
    SIGINT and SIGTERM to the main process (``signals.py``)."""
    ignore_stop_signals()
    watch_parent(parent_pid)


class Reporter:
    """Writes this worker's readings into the shared dict every half second."""

    def __init__(self, spec: DeviceSpec, status: MutableMapping[int, dict[str, Any]],
                 notes: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.spec = spec
        self.status = status
        self.notes = notes  # the task's notes(), once it is set up
        self.unit: str | None = None
        self.progress = 0  # records of the unit done
        self.part = 0  # parts done of the record after them (a task that reports positions)
        self.progress_time: float | None = None
        self._busy_since: float | None = None
        self._busy_total = 0.0
        self._samples: deque[tuple[float, float]] = deque()
        self.counts: Callable[[], Mapping[str, int]] | None = None  # the task's counts(), once set up
        self.phases: PhaseClock | None = None  # where the unit-running thread's time goes, once set up
        self.setup_s: float | None = None  # seconds the task's setup took
        self._sampler = None
        self._energy: EnergyMeter | None = None
        if spec.kind == "cuda" and spec.ordinal is not None:
            from ...hardware.nvml import NvmlSampler

            self._sampler = NvmlSampler(spec.ordinal, spec.uuid)
            if self._sampler.available:
                self._energy = EnergyMeter(self._sampler)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lbtui-reporter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def unit_started(self, uid: str) -> None:
        self.unit, self.progress, self.part = uid, 0, 0
        self.progress_time = time.time()
        self._busy_since = time.monotonic()

    def unit_ended(self) -> None:
        if self._busy_since is not None:
            self._busy_total += time.monotonic() - self._busy_since
        self._busy_since = None
        self.unit = None
        self.progress_time = time.time()

    def on_progress(self, done: int | tuple[int, int]) -> None:
        """The task's progress callback: cheap, only stores numbers. ``done`` is
        records done, or a position (records, part): a part done inside a long
        record is progress too, so the record is never taken for a stall."""
        records, part = (int(done[0]), int(done[1])) if isinstance(done, tuple) else (int(done), 0)
        if (records, part) != (self.progress, self.part):
            self.progress, self.part = records, part
            self.progress_time = time.time()

    def _busy_fraction(self) -> float | None:
        now = time.monotonic()
        busy = self._busy_total + (now - self._busy_since if self._busy_since is not None else 0.0)
        self._samples.append((now, busy))
        while len(self._samples) > 2 and now - self._samples[1][0] >= BUSY_WINDOW_S:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        return None if now - t0 <= 0 else max(0.0, min(100.0, 100.0 * (busy - b0) / (now - t0)))

    def _reading(self) -> dict[str, Any]:
        if self._sampler is not None and self._sampler.available:
            r = self._sampler.read()
            return {"utilization": r.utilization, "memory": r.memory,
                    "temperature": r.temperature, "power": r.power}
        if self.spec.kind == "cuda":  # no NVML for this device: torch still knows its memory
            return {"utilization": None, "memory": torch_memory_percent(self.spec),
                    "temperature": None, "power": None}
        return {"utilization": self._busy_fraction(), "memory": rss_percent(),
                "temperature": None, "power": None}

    def report(self) -> None:
        data: dict[str, Any] = {"pid": os.getpid(), "heartbeat": time.time(), "unit": self.unit,
                "progress": self.progress, "part": self.part, "progress_time": self.progress_time,
                "cpu_s": round(time.process_time(), 3),  # this worker process, all its threads
                "reading_error": None}
        try:
            data.update(self._reading())
        except Exception as exc:  # noqa: BLE001 - a broken NVML must not stop the heartbeat
            data.update(utilization=None, memory=None, temperature=None, power=None,
                        reading_error=f"{type(exc).__name__}: {exc}")
        data.update(self._work(data.get("power")))
        self.status[self.spec.index] = data

    def _work(self, watts: float | None) -> dict[str, Any]:
        """The task's notes and counts, the phases of its time, energy: extras that never
        stop the heartbeat."""
        data: dict[str, Any] = {}
        try:
            if self.notes is not None:
                data["task_notes"] = {str(k): str(v) for k, v in self.notes().items()}
            if self.counts is not None:
                data["task_counts"] = {str(k): int(v) for k, v in self.counts().items()}
            if self.phases is not None:
                data["phases"] = {k: round(v, 4) for k, v in self.phases.totals().items()}
                data["setup_s"] = self.setup_s
            if self._energy is not None:
                joules = self._energy.read(watts, time.monotonic())
                data["energy_j"] = None if joules is None else round(joules, 3)
        except Exception:  # noqa: BLE001 - a task's extras must never stop the heartbeat
            pass
        return data

    def _loop(self) -> None:
        while not self._stop.wait(REPORT_INTERVAL_S):
            try:
                self.report()
            except (OSError, EOFError, BrokenPipeError):
                return  # the Manager is gone; the coordinator notices the silence
            except Exception:  # noqa: BLE001 - e.g. a proxy error: keep trying, never kill the unit
                continue


def torch_memory_percent(spec: DeviceSpec) -> float | None:
    """Used share of a CUDA device's memory through the task's own torch (never
    imported here: a task that did not load torch has no CUDA context to ask)."""
    torch = sys.modules.get("torch")
    if torch is None or spec.ordinal is None:
        return None
    try:
        free, total = torch.cuda.mem_get_info(spec.ordinal)
        return 100.0 * (total - free) / total if total else None
    except Exception:  # CUDA not initialised in this process, or a broken context
        return None


def wait_until_memory_free(spec: DeviceSpec, wait: MemoryWait | None) -> None:
    """A restarted worker: its predecessor's CUDA context may still hold the
    device's memory for a moment after the kill. Wait (bounded) until NVML
    shows it released; setup runs after the timeout anyway (and a failed setup
    after a restart is tried once more)."""
    if wait is None or spec.kind != "cuda" or spec.ordinal is None:
        return
    from ...hardware.memory_wait import wait_for_memory

    wait_for_memory(spec.ordinal, spec.uuid, wait)


def rss_percent() -> float | None:
    try:
        import psutil

        return psutil.Process().memory_percent()
    except Exception:  # psutil missing or /proc unreadable: show "–"
        return None


def limit_threads(spec: DeviceSpec) -> None:
    """Workers split the CPUs (``hardware/cpus.py``): thread counts are set before
    torch is imported, and torch's own after setup (``apply_threads``)."""
    if spec.kind in ("cpu", "cuda") and spec.threads:
        set_thread_env(spec.threads)
    elif spec.kind == "sim":
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # a simulated GPU does no math


def apply_threads(spec: DeviceSpec) -> None:
    """torch's intra-op threads, once the task imported it (a task without torch: nothing)."""
    torch = sys.modules.get("torch")
    if spec.kind in ("cpu", "cuda") and spec.threads and torch is not None:
        torch.set_num_threads(spec.threads)


def setup_task(spec: DeviceSpec, task_name: str, task_options: dict[str, Any]) -> Any:
    """The task, set up on this worker's device; for a GPU, checked to be the one
    this worker was bound to (``binding.bind`` ran before)."""
    from ...tasks import load_task

    task = load_task(task_name)(task_options)
    task.setup(spec)
    apply_threads(spec)
    torch = sys.modules.get("torch")
    if spec.kind == "cuda" and torch is not None and spec.uuid:
        check_bound(spec, torch, parent_uuid(spec.uuid))
    return task


def worker_main(spec: DeviceSpec, task_name: str, task_options: dict[str, Any], conn: Connection,
                status: MutableMapping[int, dict[str, Any]], parent_pid: int, out_dir: str,
                memory_wait: MemoryWait | None = None) -> None:
    """Entry point of the spawned worker process. ``memory_wait``: this worker
    replaces one that was killed; wait for the device's memory first."""
    ignore_stop_signals()  # the main process decides what a stop means, and ends this one
    watch_parent(parent_pid)
    try:
        spec = bind(spec)  # before anything imports torch: CUDA shows this process its own GPU only
    except BindingError as exc:
        conn.send(SetupFailed(str(exc), traceback.format_exc()))
        return
    limit_threads(spec)
    reporter = Reporter(spec, status)
    try:
        wait_until_memory_free(spec, memory_wait)
        started = time.monotonic()
        task = setup_task(spec, task_name, task_options)
        reporter.setup_s = round(time.monotonic() - started, 3)
        reporter.notes, reporter.counts, reporter.phases = task.notes, task.counts, task.phases
    except BaseException as exc:  # report any setup failure, then end this worker
        conn.send(SetupFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    task.phases.restart()  # its time is counted from here: waiting for the first unit is "input"
    try:
        reporter.report()
    except Exception:  # noqa: BLE001 - no Manager: run without live readings
        pass
    reporter.start()
    conn.send(Ready(os.getpid()))
    try:
        serve(task, conn, reporter, out_dir)
    finally:
        reporter.stop()
        try:
            reporter.report()  # the last word: notes such as a batch budget learned in the final unit
        except Exception:  # noqa: BLE001 - the Manager may already be gone
            pass
        task.teardown()


class Inbox:
    """The units this worker holds, in the order it runs them: what the dispatcher
    sent, less what it withdrew. Messages are read between units (and, for a
    splittable task, while one runs: ``UnitControl``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.items: deque[WorkItem] = deque()
        self.stop = False  # STOP arrived: answer the unit running, start no other, exit

    def next(self) -> WorkItem | None:
        """The next unit to run (waits for one), or None: stop. Looks at the pipe
        first even when it holds units, so a Withdraw or STOP is obeyed before
        the next unit starts."""
        while not self.stop and (not self.items or readable(self.conn)):
            msg = self.conn.recv()
            if isinstance(msg, Cut):  # it came after its unit ended: too late
                self.conn.send(CutAt(msg.uid, None))
            else:
                self.take(msg)
        return None if self.stop else self.items.popleft()

    def take(self, msg: object) -> None:
        if msg is STOP:
            self.stop = True
            self.items.clear()  # those sent ahead: the dispatcher settles them once this process is gone
        elif isinstance(msg, WorkItem):
            self.items.append(msg)
        elif isinstance(msg, WorkBatch):
            self.items.extend(msg.items)
        elif isinstance(msg, Withdraw):
            count = len(self.items)
            self.items.clear()
            self.conn.send(Withdrawn(count))
        else:
            raise TypeError(f"unexpected message from the dispatcher: {msg!r}")


def readable(conn: Connection) -> bool:
    """``conn.poll()`` without the selector multiprocessing builds per call (a pipe
    Connection buffers nothing of its own: its fd says whether a message waits).
    Used by both ends of the pipe."""
    try:
        return bool(select.select([conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError):
        raise EOFError from None  # closed under us: the other end's death settles it


class UnitControl:
    """The progress callback a task gets: reports progress, and for a splittable
    task polls the pipe for a ``Cut`` and returns where the unit now stops,
    in the shape the task reported in (records, or a (records, part) position).
    Other messages that arrive meanwhile go to the ``Inbox``."""

    def __init__(self, conn: Connection, reporter: Reporter, splittable: bool,
                 inbox: Inbox | None = None) -> None:
        self.conn, self.reporter, self.splittable = conn, reporter, splittable
        self.inbox = inbox if inbox is not None else Inbox(conn)
        self.uid, self.start = "", 0
        self.first = self.stop = self.full = (0, 0)  # absolute positions
        self._polled = 0.0

    def begin(self, unit: Unit) -> None:
        self.uid, self.start = unit.uid, unit.start
        self.first, self.stop = unit.begin, unit.stop
        self.full = self.stop
        self._polled = time.monotonic()

    @property
    def cut(self) -> bool:
        return self.stop != self.full

    def __call__(self, done: int | tuple[int, int]) -> int | tuple[int, int]:
        self.reporter.on_progress(done)
        now = time.monotonic()
        if self.splittable and now - self._polled >= POLL_INTERVAL_S:
            self._polled = now
            at = (self.start + done[0], done[1]) if isinstance(done, tuple) else (self.start + int(done), 0)
            while readable(self.conn):
                self.receive(self.conn.recv(), at)
        rel = (self.stop[0] - self.start, self.stop[1])
        if isinstance(done, tuple):
            return rel
        return rel[0] + (1 if rel[1] else 0)

    def receive(self, msg: object, at: tuple[int, int]) -> None:
        if isinstance(msg, Cut):
            self.conn.send(CutAt(msg.uid, self.answer(msg, at)))
        else:
            self.inbox.take(msg)

    def answer(self, msg: Cut, reached: tuple[int, int]) -> tuple[int, int] | None:
        """Where this unit will stop (absolute position), or None: not this unit, or
        already past where a cut would still pay. A unit cut once may be cut again
        (a stop after a cut for an idle device): only ever shorter."""
        if msg.uid != self.uid:
            return None
        at = max(msg.at, reached)  # never before what is done (a batch in progress ends first)
        if at > msg.until or not self.first < at < self.stop:
            return None
        self.stop = at
        return at

    def expected(self) -> int:
        """Sequences the task must report for what it now covers."""
        return records_started(self.first, self.stop)


def written(task: Any, output: str) -> tuple[str, int]:
    """The result ``task`` just wrote at ``output``: its sha256 and size, for the manifest."""
    try:
        return digest(output)
    except FileNotFoundError:
        raise RuntimeError(f"{type(task).__name__} wrote no result at {output}") from None


def serve(task: Any, conn: Connection, reporter: Reporter, out_dir: str) -> None:
    """Run units until STOP; the time between them is ``input``, answering is ``write``
    (``task.phases``: the task splits its own time inside ``run_unit``)."""
    inbox = Inbox(conn)
    control = UnitControl(conn, reporter, bool(getattr(task, "splittable", False)), inbox)
    folders: set[str] = set()  # result folders made so far: a task may simply open(output, "w")
    phases = task.phases
    while True:
        phases.switch("input")
        try:
            item = inbox.next()
        except (EOFError, OSError):
            return  # the dispatcher is gone
        if item is None:
            return  # STOP
        phases.switch("cpu")
        unit = item.unit
        reporter.unit_started(unit.uid)
        control.begin(unit)
        started, t0 = time.time(), time.monotonic()
        reply: Done | Failed
        try:
            folder = os.path.dirname(item.output)
            if folder not in folders:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            sequences = int(task.run_unit(unit, Path(item.output), control))
            phases.switch("write")  # checking and digesting the result
            if control.cut and sequences != control.expected():
                raise RuntimeError(f"{type(task).__name__} did {sequences} records of {unit.uid} "
                                   f"after agreeing to stop at {control.stop}")
            sha, size = written(task, item.output)
        except UnitError as exc:
            reply = Failed(str(exc), traceback.format_exc(), permanent=True, uid=unit.uid)
        except Exception as exc:  # noqa: BLE001 - sent back whole, with its traceback
            if isinstance(exc, OSError) and exc.filename is None:
                exc.filename = item.output  # a failed write() names no file: say which result it was
            reply = Failed(f"{type(exc).__name__}: {exc}", traceback.format_exc(), permanent=False,
                           environment=environment_error(exc, out_dir), device_fault=is_device_fault(exc),
                           uid=unit.uid)
        else:
            reply = Done(sequences, time.monotonic() - t0, started, time.time(), uid=unit.uid,
                         output_sha256=sha, output_size=size)
        phases.switch("write")
        reporter.unit_ended()
        try:
            conn.send(reply)
        except (OSError, BrokenPipeError):
            return
