"""The local backend: one spawned worker process per device, a pipe each.

The dispatcher loop runs in a thread of the main process. It waits on every
worker's pipe, every process sentinel (so a death is seen at once, well
inside the 2 s budget) and a wake pipe the UI's commands write to::

    wait(pipes + sentinels + wake) ─▶ "ready"/"done"/"failed" ─▶ Coordinator
                                   ─▶ sentinel: device_died()  ─▶ requeue
    every tick: drains, steal look-ups, stalls, history, metrics

A cluster backend (Ray) replaces this module; the Coordinator and the UIs
stay as they are.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.managers import SyncManager
from typing import Callable, Protocol, Sequence

from .coordinator import Coordinator
from .device_book import InFlight
from .devices import DeviceSpec
from .worker import STOP, WorkItem, manager_initializer, worker_main

TICK_S = 0.25  # housekeeping period; also bounds how late a resume is noticed
JOIN_TIMEOUT_S = 5.0  # a stopping worker gets this long before it is killed


class Sink(Protocol):
    """Where finished units go (the runner: manifest, per-file merges)."""

    def unit_done(self, index: int, flight: InFlight, sequences: int, seconds: float) -> None: ...

    def unit_failed(self, index: int, flight: InFlight, error: str, tb: str) -> None: ...

    def setup_failed(self, index: int, error: str, tb: str) -> None: ...


def start_manager() -> tuple[SyncManager, object]:
    """The shared dict workers report into, in a Manager that dies with us."""
    manager = SyncManager(ctx=mp.get_context("spawn"))
    manager.start(manager_initializer, (os.getpid(),))
    return manager, manager.dict()


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
    def __init__(self, coord: Coordinator, devices: Sequence[DeviceSpec], task_name: str,
                 task_options: dict, outputs: dict[str, str], sink: Sink, status: object, *,
                 steal_interval: float = 2.0, grace: float = 30.0, refresh: float = 2.0,
                 on_tick: Callable[[], None] | None = None) -> None:
        self.coord = coord
        self.devices = list(devices)
        self.task_name, self.task_options = task_name, task_options
        self.outputs = outputs  # uid -> absolute output path
        self.sink = sink
        self.status = status
        self.steal_interval, self.grace, self.refresh = steal_interval, grace, refresh
        self.on_tick = on_tick
        self.ctx = mp.get_context("spawn")
        self.procs: list[mp.process.BaseProcess] = []
        self.conns: list[Connection] = []
        self.expected_exit: set[int] = set()
        self._wake_r, self._wake_w = self.ctx.Pipe(duplex=False)
        self._wake_lock = threading.Lock()
        self.stop_requested_at: float | None = None
        self._sink_calls: list[tuple[Callable, tuple]] = []  # filled under coord.lock, run outside it
        self._refresh_due = False
        coord.wake = self.wake

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> list[int]:
        for spec in self.devices:
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(
                target=worker_main, name=f"lbtui-{spec.label}",
                args=(spec, self.task_name, self.task_options, child, self.status, os.getpid()),
                daemon=True,
            )
            proc.start()
            child.close()
            self.procs.append(proc)
            self.conns.append(parent)
            self.coord.books[spec.index].pid = proc.pid
        return [p.pid for p in self.procs]

    def wake(self) -> None:
        with self._wake_lock:
            try:
                self._wake_w.send_bytes(b"!")
            except OSError:
                pass

    # -- the dispatcher loop -----------------------------------------------------
    def run(self) -> int:
        """Dispatch until every unit is done, failed or abandoned; returns the exit code."""
        coord = self.coord
        by_obj: dict[object, tuple[str, int]] = {self._wake_r: ("wake", -1)}
        for i, (conn, proc) in enumerate(zip(self.conns, self.procs)):
            by_obj[conn] = ("conn", i)
            by_obj[proc.sentinel] = ("exit", i)
        self._last_steal = self._last_tick = self._last_refresh = time.monotonic()
        while True:
            ready = wait(list(by_obj), timeout=TICK_S)
            # Blocking calls stay outside coord.lock, so snapshots never wait on them:
            for obj in ready:
                what, i = by_obj[obj]
                if what == "exit" and i not in self.expected_exit:
                    # The sentinel can fire a moment before the child is reapable;
                    # join (a blocking waitpid) so the exit code is not lost.
                    self.procs[i].join(1.0)
            tick_due = time.monotonic() - self._last_tick >= TICK_S
            reports = coord._reports() if tick_due else None  # Manager IPC
            with coord.lock:
                going = self._step(ready, by_obj, reports)
            self._flush_sink()  # manifest lines and per-file merges
            if self._refresh_due and self.on_tick:
                self.on_tick()  # --metrics-log: a snapshot and a CSV write
            self._refresh_due = False
            if not going:
                break
        return self._finish()

    def _flush_sink(self) -> None:
        """Hand finished and failed units to the sink without holding coord.lock,
        so a slow merge never freezes snapshots (the dashboard)."""
        pending, self._sink_calls = self._sink_calls, []
        for call, args in pending:
            call(*args)

    def _step(self, ready: list, by_obj: dict, reports: dict | None) -> bool:
        """One pass over what woke us (caller holds coord.lock); False when the run is over.
        ``reports`` is a fresh copy of the workers' reports when a tick is due."""
        coord = self.coord
        just_idle: set[int] = set()
        exits = []
        for obj in ready:
            what, i = by_obj[obj]
            if what == "wake":
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
            elif what == "conn":
                self._drain_conn(i, just_idle, by_obj)
            else:
                exits.append(i)
        for i in exits:  # after the pipes, so a last "done" is never lost
            self._drain_conn(i, just_idle, by_obj)
            by_obj.pop(self.procs[i].sentinel, None)
            by_obj.pop(self.conns[i], None)
            if i not in self.expected_exit:
                coord.device_died(i, describe_exit(self.procs[i].exitcode))
        now = time.monotonic()
        if coord.stopping and self.stop_requested_at is None:
            self.stop_requested_at = now
        if coord.stop_now or (self.stop_requested_at is not None and now - self.stop_requested_at > self.grace):
            self._kill_all()
            return False
        for i in coord.take_pending_drains():
            self._send_stop(i)
            coord.mark_drained(i)
        steal_due = now - self._last_steal >= self.steal_interval
        if steal_due:
            self._last_steal = now
        self._dispatch_idle(just_idle, steal_due)
        if reports is not None:
            self._last_tick = now
            coord.detect_stalled_workers(reports=reports)
            if now - self._last_refresh >= self.refresh:
                self._last_refresh = now
                coord.sample_history(reports)
                self._refresh_due = True
        if not coord.work_left() or not coord.can_progress():
            return False
        return True

    def _drain_conn(self, i: int, just_idle: set[int], by_obj: dict) -> None:
        conn = self.conns[i]
        try:
            while conn.poll():
                self._handle(i, conn.recv(), just_idle)
        except (EOFError, OSError):
            by_obj.pop(conn, None)  # the sentinel reports the death

    def _handle(self, i: int, msg: tuple, just_idle: set[int]) -> None:
        coord, kind = self.coord, msg[0]
        if kind == "ready":
            coord.device_ready(i, msg[1])
            just_idle.add(i)
        elif kind == "done":
            flight = coord.unit_done(i, msg[1], msg[2])
            self._sink_calls.append((self.sink.unit_done, (i, flight, msg[1], msg[2])))
            just_idle.add(i)
        elif kind == "failed":
            flight, _retried = coord.unit_failed(i, msg[1], permanent=msg[3])
            self._sink_calls.append((self.sink.unit_failed, (i, flight, msg[1], msg[2])))
            just_idle.add(i)
        elif kind == "setup_failed":
            coord.device_died(i, f"setup failed: {msg[1]}")
            self._sink_calls.append((self.sink.setup_failed, (i, msg[1], msg[2])))
            self.expected_exit.add(i)

    def _dispatch_idle(self, just_idle: set[int], steal_due: bool) -> None:
        """Hand work to every idle device: its own queue first; a device that
        just went idle steals at once, the others look again every steal interval."""
        for book in self.coord.books:
            i = book.spec.index
            if book.in_flight is not None or not book.ready or book.dead or book.drained:
                continue
            flight = self.coord.next_unit(i, allow_steal=steal_due or i in just_idle)
            if flight is not None:
                self._send(i, flight)

    def _send(self, i: int, flight: InFlight) -> None:
        item = WorkItem(flight.unit, self.outputs[flight.unit.uid], flight.attempt)
        try:
            self.conns[i].send(item)
        except (OSError, BrokenPipeError):
            pass  # the worker is dying; its sentinel requeues the unit

    def _send_stop(self, i: int) -> None:
        self.expected_exit.add(i)
        try:
            self.conns[i].send(STOP)
        except (OSError, BrokenPipeError):
            pass

    def _kill_all(self) -> None:
        for i, proc in enumerate(self.procs):
            self.expected_exit.add(i)
            if proc.is_alive():
                proc.kill()
        for book in self.coord.books:
            book.in_flight = None  # lost to the stop; written results are kept

    def _finish(self) -> int:
        coord = self.coord
        for i in range(len(self.procs)):
            if i not in self.expected_exit:
                self._send_stop(i)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        with coord.lock:
            unrun = [u for b in coord.books for u in b.queue]
            if unrun and not coord.stopping:
                for unit in unrun:  # queued, but no device left alive to run them
                    coord.failed[unit.uid] = "no live device left to run it"
                    coord.errors.append(f"{unit.uid}: no live device left to run it")
            if coord.stopping and (unrun or coord.units_done + len(coord.failed) < len(coord.units)):
                coord.interrupted = True
        if coord.interrupted:
            return 130
        return 1 if coord.failed or coord.merge_failed else 0
