"""The Ray actor: one per device, the cluster counterpart of ``worker.py``.

Nothing here needs a shared file system. The driver reads each unit's
records and sends them with the job; the actor writes them to a private
temp FASTA, runs the task on a copy of the unit that reads from there, and
returns the result file's bytes for the driver to write::

    driver ── submit([Job(ticket, unit, FASTA text), ...]) ─▶ job queue ─▶ runner thread
                                                              │ temp FASTA ─▶ task.run_unit
    driver ◀── collect(): [CutAnswer | UnitReply(Done | Failed, bytes), ...] ◀┘
    driver ── cut / withdraw / report ─▶ answered on the actor's other threads

The actor is threaded (``MAX_CONCURRENCY``): units run on a thread of its
own (``job_queue.JobQueue``), so a waiting ``collect``, a ``report`` and a
``cut`` never wait for a unit, and a few jobs can be queued so the actor
never waits on a round trip to the driver between two short units.
This module never imports ray at module level: the driver wraps the class
with ``ray.remote`` (so importing it costs nothing without ray installed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...coordinator.messages import Cut, Done, Failed, SetupFailed
from ...errors import UnitError
from ...hardware.binding import BindingError, bind
from ...hardware.cpus import usable_cpus
from ...hardware.devices import DeviceSpec, capability_weight
from ...inputs.record_index import SeekPoint
from ..local.worker import Reporter, limit_threads, setup_task
from .job_queue import JobControl, JobQueue
from .protocol import ActorReady, Collected, Job, Placement, UnitReply, fasta_text

__all__ = ["DeviceActor", "fasta_text"]

MAX_CONCURRENCY = 6  # Ray threads: a waiting collect, report, and submit / cut / withdraw / stop calls
COLLECT_WAIT_S = 5.0  # a collect with nothing to say returns after this (the driver asks again)
STOP_JOIN_S = 4.0  # stop() waits this long for a running unit (the driver kills the actor at 5 s)


class DeviceActor:
    """One device's worker on a Ray node. ``__init__`` is cheap (placement is
    reported at once); models load in ``setup``."""

    def __init__(self, spec: DeviceSpec, task_name: str, task_options: dict[str, Any]) -> None:
        try:  # Ctrl+C in the driver's terminal reaches this process group too: the driver decides
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread: nothing to undo
            pass
        self.spec = spec
        self.task_name, self.task_options = task_name, task_options
        self.task: Any = None
        self.status: dict[int, dict[str, Any]] = {}  # the Reporter writes its one device's report here
        self.reporter: Reporter | None = None
        self.lock = threading.Lock()  # reporter state is read while a unit runs
        self.scratch = Path(tempfile.mkdtemp(prefix="lbtui-actor-"))
        self.queue: JobQueue | None = None

    def where(self) -> Placement:
        import ray

        return Placement(os.getpid(), ray.get_runtime_context().get_node_id(), socket.gethostname())

    def setup(self) -> ActorReady | SetupFailed:
        spec = self.spec
        try:
            if spec.kind == "cuda":
                spec = self.spec = self._own_gpu()
            if spec.threads:  # the driver's share of the node's CPUs, within what this process may use
                spec = self.spec = replace(spec, threads=min(spec.threads, usable_cpus()))
            limit_threads(spec)
            started = time.monotonic()
            self.task = setup_task(spec, self.task_name, self.task_options)
            self.reporter = Reporter(spec, self.status, self.task.notes)  # polled by report(), no thread
            self.reporter.setup_s = round(time.monotonic() - started, 3)
            self.reporter.counts, self.reporter.phases = self.task.counts, self.task.phases
            self.task.phases.restart()  # from here the runner thread waits for jobs: "input"
        except BaseException as exc:  # report any setup failure; the driver ends this actor
            return SetupFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        self.queue = JobQueue(self._execute, self._progress)
        self.queue.start()
        return ActorReady(os.getpid(), spec.name, spec.weight, spec.known)

    def _own_gpu(self) -> DeviceSpec:
        """Ray set CUDA_VISIBLE_DEVICES to this actor's GPU; it is bound to it by
        its UUID (``binding.bind``), as a local worker is: cuda:0 here."""
        from ...hardware import discovery, nvml

        nvml.pin_device_order()
        found = discovery.discover().devices
        if not found:
            raise RuntimeError(f"no CUDA device visible (CUDA_VISIBLE_DEVICES="
                               f"{os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
        gpu = found[0]
        weight, known = capability_weight(gpu.name)
        spec = replace(self.spec, name=gpu.name, weight=weight, known=known, ordinal=gpu.index, uuid=gpu.uuid,
                       memory_total=gpu.memory_total)
        try:
            return bind(spec)
        except BindingError:  # torch listed it (CUDA is up): Ray's one GPU is cuda:0 already
            return replace(spec, ordinal=0)

    # -- the driver's calls ----------------------------------------------------------------
    def submit(self, jobs: list[Job]) -> None:
        self._queue().submit(jobs)

    def collect(self, jobs: list[Job], timeout: float = COLLECT_WAIT_S) -> Collected:
        """Queue ``jobs``, then return the outbox (waiting up to ``timeout`` s for
        something): one call both ways per round trip."""
        queue = self._queue()
        if jobs:
            queue.submit(jobs)
        items = queue.collect(timeout)
        return Collected(tuple(items), time.time(), self.report())

    def cut(self, ticket: int, cut: Cut) -> None:
        self._queue().cut(ticket, cut)

    def withdraw(self, tickets: list[int]) -> list[int]:
        return self._queue().withdraw(tickets)

    def report(self) -> dict[str, Any] | None:
        """The live readings (the worker's report dict, plus ``clock``)."""
        if self.reporter is None:
            return None
        with self.lock:
            self.reporter.report()
        data = dict(self.status.get(self.spec.index) or {})
        data["clock"] = time.time()
        return data

    def stop(self) -> None:
        """Run nothing more; release the models once the unit running now (if
        any) ended, and the scratch folder. The driver kills the actor next."""
        ended = self.queue.stop(STOP_JOIN_S) if self.queue is not None else True
        if self.task is not None and ended:
            self.task.teardown()
        if ended:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _queue(self) -> JobQueue:
        if self.queue is None:
            raise RuntimeError("the driver called the actor before its setup succeeded")
        return self.queue

    # -- on the runner thread ----------------------------------------------------------------
    def _reporter(self) -> Reporter:
        """The reporter ``setup`` made: units come only after it."""
        if self.reporter is None:
            raise RuntimeError(f"{self.spec.label}: a unit before setup")
        return self.reporter

    def _progress(self, done: int | tuple[int, int]) -> None:
        with self.lock:
            self._reporter().on_progress(done)

    def _execute(self, job: Job, control: JobControl) -> UnitReply:
        """Run one job from its records; its reply carries the result's bytes."""
        unit = job.unit
        local = self.scratch / f"{job.ticket}.fa"
        output = self.scratch / f"{job.ticket}.result"
        reporter = self._reporter()
        phases = self.task.phases
        phases.switch("cpu")
        with self.lock:
            reporter.unit_started(unit.uid)
        started, t0 = time.time(), time.monotonic()
        result: bytes | None = None
        try:
            local.write_bytes(job.text)
            # The temp file holds only this unit's records: its first one is record
            # unit.start, at byte 0. The task sees the unit's own record numbers.
            st = local.stat()
            here = replace(unit, path=str(local), seek=SeekPoint(unit.start, 0, st.st_size, st.st_mtime_ns))
            sequences = int(self.task.run_unit(here, output, control))
            if control.cut and sequences != control.expected():
                raise RuntimeError(f"{type(self.task).__name__} did {sequences} records of {unit.uid} "
                                   f"after agreeing to stop at {control.stop}")
            result = output.read_bytes()
        except UnitError as exc:
            reply: Done | Failed = Failed(str(exc), traceback.format_exc(), permanent=True)
        except Exception as exc:  # noqa: BLE001 - sent back whole, with its traceback
            # The actor's scratch disk is not the run's output disk: a retry elsewhere may help.
            reply = Failed(f"{type(exc).__name__}: {exc}", traceback.format_exc(), permanent=False)
        else:
            reply = Done(sequences, time.monotonic() - t0, started, time.time())
        finally:
            phases.switch("write")
            with self.lock:
                reporter.unit_ended()
            for path in (local, output):
                path.unlink(missing_ok=True)
            phases.switch("input")  # the reply goes out through collect(), on another thread
        return UnitReply(job.ticket, reply, result)
