"""The local backend: one spawned worker process per device, a pipe each.

The dispatcher loop runs in a thread of the main process. It waits on every
worker's pipe, every process sentinel (so a death is seen at once) and a
wake-up pipe that the UI's commands and signal handlers write to::

    wait(pipes + sentinels + wakeup) ─▶ Ready/Done/Failed ─▶ Coordinator
                                     ─▶ sentinel: device_died() ─▶ requeue
    idle: next_unit() ─▶ WorkItem, or a WorkBatch with short units sent ahead (ahead.py)
    idle, nothing to steal: find_cut() ─▶ Cut to the victim ─▶ CutAt ─▶ tail to the thief
    paused, draining, stopping: Withdraw ─▶ Withdrawn (units sent ahead not started)
    stopping: stop_cuts() ─▶ Cut to every worker ─▶ CutAt ─▶ the head done, the tail kept for the resume
    every tick: drains, steal look-ups, stalls (flag or restart), readings,
                device restarts and retirements the coordinator decided (health.py)
    a restarted worker waits for its device's memory (NVML) before setup
    outside the lock: the sink (manifest, merges, events, metrics)

Anything the loop raises (a bug, or an ``OutputError`` when results cannot
be written) propagates to the runner, which decides how the run ends; the
pool only offers ``wind_down()`` and ``abort()`` for that. ``LocalPool`` is a
``Backend`` as ``backends/base.py`` states it; the Ray backend is another.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import selectors
import signal
import time
from collections.abc import Callable, MutableMapping, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.managers import SyncManager
from typing import Any

from ...coordinator.device_book import InFlight
from ...coordinator.housekeeping import TICK_S
from ...coordinator.messages import (
    STOP,
    Cut,
    CutAt,
    Done,
    Failed,
    Ready,
    Reports,
    SetupFailed,
    Wakeup,
    Withdraw,
    Withdrawn,
    WorkBatch,
    WorkItem,
)
from ...errors import OutputError
from ...hardware import nvml
from ...hardware.devices import DeviceSpec
from ...hardware.memory_wait import MemoryWait, memory_wait_for
from ...inputs.units import Unit
from ...options import RunOptions
from ..base import Scheduler, Sink
from . import signals
from .ahead import AHEAD_S, MOST_AHEAD
from .worker import manager_initializer, readable, worker_main

JOIN_TIMEOUT_S = 5.0  # a stopping worker gets this long before it is killed
def start_manager() -> tuple[SyncManager, MutableMapping[int, Any]]:
    """The shared dict workers report into, in a Manager that dies with us."""
    manager = SyncManager(ctx=mp.get_context("spawn"))
    with signals.blocked():  # born deaf to SIGINT/SIGTERM: only the main process acts on them
        manager.start(manager_initializer, (os.getpid(),))
    return manager, manager.dict()


def device_memory(spec: DeviceSpec) -> tuple[int, int] | None:
    """A CUDA device's (used, total) bytes now, through NVML; None otherwise."""
    if spec.kind != "cuda" or spec.ordinal is None:
        return None
    sampler = nvml.NvmlSampler(spec.ordinal, spec.uuid)
    try:
        return sampler.memory_bytes()
    finally:
        sampler.close()


def describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class LocalPool:
    def __init__(self, coord: Scheduler, devices: Sequence[DeviceSpec], options: RunOptions, *,
                 task_name: str, outputs: Callable[[Unit], str], sink: Sink, status: MutableMapping[int, Any],
                 wakeup: Wakeup, out_dir: str) -> None:
        self.coord = coord
        self.devices = list(devices)
        self.task_name = task_name
        self.task_options = dict(options.task_options)  # pickled to each worker
        self.outputs = outputs  # unit -> absolute output path
        self.sink = sink
        self.status = status
        self.wakeup = wakeup
        self.out_dir = out_dir
        self.ctx = mp.get_context("spawn")
        self.procs: list[mp.process.BaseProcess] = []  # by device index, from start() on
        self.conns: list[Connection] = []
        self.expected_exit: set[int] = set()
        self.housekeeping = coord.housekeeping()
        # filled under coord.lock, run outside it:
        self._sink_calls: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._by_obj: dict[object, tuple[str, int]] = {}  # what the loop waits on, and what each is
        # One selector for the whole run (multiprocessing's wait() builds one per call:
        # at thousands of units a second that was a good part of the dispatcher's time).
        self._selector = selectors.DefaultSelector()
        self._reports: Reports = {}  # the workers' last reports (progress, for cut points)
        self.baselines: list[tuple[int, int] | None] = []  # each GPU's (used, total) before our workers

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> list[int | None]:
        self.baselines = [device_memory(spec) for spec in self.devices]  # before any worker touches a GPU
        for spec in self.devices:  # in index order: each _spawn appends its device's process
            self._spawn(spec.index)
        return self.pids

    def _spawn(self, i: int, memory_wait: MemoryWait | None = None) -> None:
        spec = self.devices[i]
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=worker_main, name=f"lbtui-{spec.label}",
            args=(spec, self.task_name, self.task_options, child, self.status, os.getpid(), self.out_dir,
                  memory_wait),
            daemon=True,
        )
        with signals.blocked():  # born deaf to SIGINT/SIGTERM (signals.py)
            proc.start()
        child.close()
        if i == len(self.procs):  # its first worker (start())
            self.procs.append(proc)
            self.conns.append(parent)
        else:
            self.procs[i], self.conns[i] = proc, parent
        self._watch(parent, ("conn", i))
        self._watch(proc.sentinel, ("exit", i))
        self.expected_exit.discard(i)
        self.coord.worker_started(i, proc.pid)

    def _watch(self, obj: Connection | Wakeup | int, what: tuple[str, int]) -> None:
        self._by_obj[obj] = what
        self._selector.register(obj, selectors.EVENT_READ)

    def _unwatch(self, obj: Connection | Wakeup | int) -> None:
        if self._by_obj.pop(obj, None) is not None:
            try:
                self._selector.unregister(obj)
            except (KeyError, ValueError, OSError):
                pass  # already closed: nothing to wait on

    def _wait(self, timeout: float) -> list[object]:
        return [key.fileobj for key, _ in self._selector.select(timeout)]

    def _forget(self, i: int) -> None:
        self._unwatch(self.conns[i])
        self._unwatch(self.procs[i].sentinel)

    # -- the dispatcher loop -----------------------------------------------------
    def run(self) -> None:
        """Dispatch until every unit is done, failed or abandoned, or a stop ends it."""
        coord = self.coord
        self._watch(self.wakeup, ("wake", -1))
        while True:
            ready = self._wait(TICK_S)
            # Blocking calls stay outside coord.lock, so snapshots never wait on them:
            for obj in ready:
                what, i = self._by_obj.get(obj, ("gone", -1))
                if what == "exit" and i not in self.expected_exit:
                    # The sentinel can fire a moment before the child is reapable;
                    # join (a blocking waitpid) so the exit code is not lost.
                    self.procs[i].join(1.0)
            reports = coord.read_reports() if self.housekeeping.tick_due() else None  # Manager IPC
            with coord.lock:
                going, sample = self._step(ready, reports)
            self._flush_sink()
            self.sink.tick(sample)
            if not going:
                return

    def _flush_sink(self) -> None:
        """Hand finished and failed units to the sink without holding coord.lock,
        so a slow merge never freezes snapshots (the dashboard)."""
        while self._sink_calls:
            call, args = self._sink_calls.pop(0)
            call(*args)

    def _step(self, ready: list[object], reports: Reports | None) -> tuple[bool, bool]:
        """One pass over what woke us (caller holds coord.lock). Returns (going,
        sample): going is False when the run is over; sample when a refresh is due."""
        coord = self.coord
        just_idle: set[int] = set()
        exits = []
        for obj in ready:
            what, i = self._by_obj.get(obj, ("gone", -1))
            if what == "wake":
                self.wakeup.clear()
            elif what == "conn":
                self._drain_conn(i, just_idle)
            elif what == "exit":
                exits.append(i)
        for i in exits:  # after the pipes, so a last Done is never lost
            self._drain_conn(i, just_idle)
            self._forget(i)
            coord.worker_gone(i)  # whatever it was sent ahead and did not answer is free again
            if i not in self.expected_exit:
                coord.device_died(i, describe_exit(self.procs[i].exitcode))
        now = time.monotonic()
        if self.housekeeping.must_stop(now):
            self.abort()
            return False, False
        if reports is not None:
            self._reports = reports
        steal_due, sample = self.housekeeping.pass_(now, reports, stop_device=self._send_stop,
                                                    restart=self._restart, respawn=self._respawn)
        for victim, cut in coord.stop_cuts(self._reports):  # a stop: units in flight end at their next boundary
            self._send_cut(victim, cut)
        self._dispatch_idle(just_idle, steal_due)
        return coord.work_left() and coord.can_progress(), sample

    def _drain_conn(self, i: int, just_idle: set[int]) -> None:
        conn = self.conns[i]
        try:
            while readable(conn):
                self._handle(i, conn.recv(), just_idle)
        except (EOFError, OSError):
            self._unwatch(conn)  # the sentinel reports the death

    def _handle(self, i: int, msg: object, just_idle: set[int]) -> None:
        coord = self.coord
        if isinstance(msg, Ready):
            coord.device_ready(i, msg.pid)
            just_idle.add(i)
        elif isinstance(msg, Done):
            flight = coord.unit_done(i, msg.sequences, msg.seconds, msg.uid)
            self._sink_calls.append((self.sink.unit_done, (i, flight, msg)))
            just_idle.add(i)
        elif isinstance(msg, Failed) and msg.environment:
            # The output disk failed, not the unit: no retry can help. The unit
            # goes back (it is not in the manifest) and the run stops.
            coord.unit_interrupted(i, msg.uid)
            self._sink_calls.append((self._raise_output_error, (msg.environment,)))
        elif isinstance(msg, Failed):
            flight, _retried = coord.unit_failed(i, msg.error, permanent=msg.permanent,
                                                 device_fault=msg.device_fault, uid=msg.uid)
            self._sink_calls.append((self.sink.unit_failed, (i, flight, msg)))
            just_idle.add(i)
        elif isinstance(msg, CutAt):
            handed = coord.cut_answered(i, msg.uid, msg.at)
            if handed is not None:
                self._send(*handed)
        elif isinstance(msg, Withdrawn):
            coord.withdrawn(i, msg.count)
            just_idle.add(i)
        elif isinstance(msg, SetupFailed):
            self.expected_exit.add(i)  # the worker exits by itself
            if coord.setup_failed(i, msg.error):  # once more, by the housekeeping pass (_respawn)
                self._forget(i)  # its exit means nothing now, even if seen in this same pass
            self._sink_calls.append((self.sink.setup_failed, (i, msg)))
        else:
            raise TypeError(f"unexpected message from worker {i}: {msg!r}")

    @staticmethod
    def _raise_output_error(message: str) -> None:
        raise OutputError(message)

    def _restart(self, i: int) -> None:
        """Kill a stalled worker (a hung CUDA kernel ignores everything else)
        and start a fresh one; its unit was requeued by the coordinator."""
        if not self.coord.restart_stalled(i):
            self._kill(i)  # given up on: the coordinator marked it dead
            self._forget(i)
            self.coord.worker_gone(i)
            return
        self._respawn(i)

    def _respawn(self, i: int) -> None:
        """Replace device ``i``'s worker. The new one waits, before its setup,
        until the device's memory is back to what it was before this run
        (bounded): a killed CUDA context is released a moment after the kill."""
        self._kill(i)
        self._forget(i)
        self.coord.worker_gone(i)
        self._spawn(i, memory_wait_for(self.baselines[i] if i < len(self.baselines) else None))

    def _dispatch_idle(self, just_idle: set[int], steal_due: bool) -> None:
        """Hand work to every idle device: its own queue first; when a device just
        went idle (or every steal interval) the idle ones look for work to steal or
        cut, fastest first, so the rest of a slow device's work goes to the device
        that finishes it soonest, not to whichever went idle last."""
        look = steal_due or bool(just_idle)
        coord = self.coord
        for i in coord.fastest_first():
            book = coord.books[i]
            if coord.needs_withdraw(i):
                self._post(i, Withdraw())
            if not book.ready or book.dead or book.drained:
                continue
            if book.in_flight is not None:
                if 2 * book.sent <= MOST_AHEAD:
                    self._send(i, None)  # top up what it holds ahead (send_ahead says whether it is time)
                continue
            flight = coord.next_unit(i, allow_steal=look)
            if flight is not None:
                self._send(i, flight)
            elif look and not book.sent:
                cut = coord.find_cut(i, self._reports)
                if cut is not None:
                    self._send_cut(*cut)

    def _send_cut(self, victim: int, cut: Cut) -> None:
        try:
            self.conns[victim].send(cut)
        except (OSError, BrokenPipeError):
            pass  # the victim is dying: its sentinel settles the cut (nothing was cut)

    def _send(self, i: int, flight: InFlight | None) -> None:
        """Device ``i``'s new unit in flight (unless it was sent ahead), with the
        short units that follow it in its queue: one message."""
        items = []
        if flight is not None:
            flight.output = self.outputs(flight.unit)
            if not flight.ahead:
                items.append(WorkItem(flight.unit, flight.output, flight.attempt))
        for unit in self.coord.send_ahead(i, AHEAD_S, MOST_AHEAD):
            # The attempt is counted when the unit is put in flight; the worker only logs it.
            items.append(WorkItem(unit, self.outputs(unit), self.coord.next_attempt(unit)))
        if items:
            self._post(i, items[0] if len(items) == 1 else WorkBatch(tuple(items)))

    def _post(self, i: int, msg: object) -> None:
        try:
            self.conns[i].send(msg)
        except (OSError, BrokenPipeError):
            pass  # the worker is dying; its sentinel requeues the unit

    def _send_stop(self, i: int) -> None:
        self.expected_exit.add(i)
        try:
            self.conns[i].send(STOP)
        except (OSError, BrokenPipeError):
            pass

    def _kill(self, i: int) -> None:
        self.expected_exit.add(i)
        proc = self.procs[i]
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)

    # -- ending ------------------------------------------------------------------
    def abort(self) -> None:
        """Kill every worker now (their units in flight are lost; results already
        written stay). Safe to call more than once and from any state."""
        for i, proc in enumerate(self.procs):
            self.expected_exit.add(i)
            if proc.is_alive():
                proc.kill()

    def wind_down(self, grace: float, record: bool = True) -> None:
        """After the loop failed: withdraw what was sent ahead, wait up to ``grace`` s
        for units in flight, then stop. ``record``: hand finished units to the sink,
        which may fail again: the first failure ends the wait (the runner logs it)."""
        coord = self.coord
        deadline = time.monotonic() + grace
        live: dict[Connection, int] = {}
        with coord.lock:
            for i, book in enumerate(coord.books):
                if i >= len(self.procs) or not self.procs[i].is_alive():  # never started (start() failed)
                    continue
                if coord.withdraw_all(i):
                    self._post(i, Withdraw())
                if book.in_flight is not None or book.sent:
                    live[self.conns[i]] = i
        while live and time.monotonic() < deadline:
            woke = wait(list(live), timeout=max(0.0, min(TICK_S, deadline - time.monotonic())))
            for conn in [c for c in live if c in woke]:
                i = live[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    live.pop(conn)
                    continue
                flight = None
                with coord.lock:
                    book = coord.books[i]
                    if isinstance(msg, CutAt):
                        coord.cut_answered(i, msg.uid, msg.at)  # the worker stops there: keep the tail
                    elif isinstance(msg, Withdrawn):
                        coord.withdrawn(i, msg.count)
                    elif isinstance(msg, Done):
                        flight = coord.unit_done(i, msg.sequences, msg.seconds, msg.uid)
                    busy = (book.in_flight is not None or book.sent) and not isinstance(msg, Failed)
                if flight is not None and record and isinstance(msg, Done):
                    self.sink.unit_done(i, flight, msg)
                if not busy:
                    live.pop(conn)
        self.finish()

    def finish(self) -> None:
        """Stop every worker: STOP, a few seconds to exit cleanly, then kill."""
        for i in range(len(self.procs)):
            if i not in self.expected_exit:
                self._send_stop(i)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)

    @property
    def pids(self) -> list[int | None]:
        return [p.pid for p in self.procs]

    @property
    def nodes(self) -> list[str]:
        """Where each worker runs: here, so no node (Ray's are named)."""
        return ["" for _ in self.devices]
