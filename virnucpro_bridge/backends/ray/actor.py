"""The Ray actor: one per device, the cluster counterpart of ``worker.py``.

Nothing here needs a shared file system. The driver reads a unit's records
and puts them into the object store; the actor writes them to a private
temp FASTA, runs the task on a copy of the unit that points there, and
returns the result file's bytes for the driver to write::

    driver ── ray.put(FASTA text) ─▶ object store ─▶ actor.run_unit(unit, text)
                                                      │ temp FASTA ─▶ task.run_unit
    driver ◀── UnitReply(Done | Failed, result bytes) ┘
    driver ── actor.report() ─▶ readings (a second thread of the same actor)

The actor is threaded (``max_concurrency=2``): ``run_unit`` holds one thread,
``report`` answers in the other, so live readings never wait for a unit.
This module never imports ray: the driver wraps the class with
``ray.remote`` (so importing it costs nothing without ray installed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from ...coordinator.messages import Done, Failed, SetupFailed
from ...errors import UnitError
from ...hardware.devices import DeviceSpec, capability_weight
from ...inputs.fasta import Record
from ...inputs.units import Unit
from ..local.worker import Reporter, limit_threads


@dataclass(frozen=True)
class Placement:
    """Where an actor runs, known as soon as its process is up."""

    pid: int
    node_id: str  # Ray node id (hex)
    host: str


@dataclass(frozen=True)
class ActorReady:
    """Setup finished. The device as the actor sees it: a CUDA actor names its
    own GPU, so the capability weight comes from the node that runs it."""

    pid: int
    name: str
    weight: float
    known: bool


@dataclass(frozen=True)
class UnitReply:
    reply: Done | Failed
    result: bytes | None  # the task's output file, on success
    clock: float  # the actor's time.time() when it replied: corrects clock skew between nodes


def fasta_text(records: Iterable[Record]) -> bytes:
    """Records as FASTA that parses back to the same ids, headers and sequences."""
    return "".join(f">{r.description}\n{r.sequence}\n" for r in records).encode("utf-8")


class DeviceActor:
    """One device's worker on a Ray node. ``__init__`` is cheap (placement is
    reported at once); models load in ``setup``."""

    def __init__(self, spec: DeviceSpec, task_name: str, task_options: dict) -> None:
        try:  # Ctrl+C in the driver's terminal reaches this process group too: the driver decides
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread: nothing to undo
            pass
        self.spec = spec
        self.task_name, self.task_options = task_name, task_options
        self.task: Any = None
        self.status: dict = {}
        self.reporter: Reporter | None = None
        self.lock = threading.Lock()  # reporter state is read while a unit runs
        self.scratch = Path(tempfile.mkdtemp(prefix="lbtui-actor-"))

    def where(self) -> Placement:
        import ray

        return Placement(os.getpid(), ray.get_runtime_context().get_node_id(), socket.gethostname())

    def setup(self) -> ActorReady | SetupFailed:
        spec = self.spec
        try:
            limit_threads(spec)
            if spec.kind == "cuda":
                spec = self.spec = self._own_gpu()
            from ...tasks import load_task

            self.task = load_task(self.task_name)(self.task_options)
            self.task.setup(spec)
            if spec.kind == "cpu" and spec.threads and "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(spec.threads)
            self.reporter = Reporter(spec, self.status, self.task.notes)  # polled by report(), no thread
        except BaseException as exc:  # report any setup failure; the driver ends this actor
            return SetupFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        return ActorReady(os.getpid(), spec.name, spec.weight, spec.known)

    def _own_gpu(self) -> DeviceSpec:
        """Ray set CUDA_VISIBLE_DEVICES to this actor's GPU: it is cuda:0 here."""
        from ...hardware import discovery, nvml

        nvml.pin_device_order()
        found = discovery.cuda_devices()
        if not found:
            raise RuntimeError(f"no CUDA device visible (CUDA_VISIBLE_DEVICES="
                               f"{os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
        name = found[0][1]
        weight, known = capability_weight(name)
        return replace(self.spec, name=name, weight=weight, known=known, ordinal=0)

    def run_unit(self, unit: Unit, text: bytes, attempt: int) -> UnitReply:
        """Run one unit from its records (``text``); return the result's bytes."""
        work = Path(tempfile.mkdtemp(prefix=f"a{attempt}-", dir=self.scratch))
        local = work / "input.fa"
        local.write_bytes(text)
        here = replace(unit, path=str(local), start=0, seek=None)
        output = work / "result"
        reporter = self.reporter
        assert reporter is not None, "run_unit before setup"
        with self.lock:
            reporter.unit_started(unit.uid)
        started, t0 = time.time(), time.monotonic()
        result: bytes | None = None
        try:
            sequences = int(self.task.run_unit(here, output, reporter.on_progress))
            result = output.read_bytes()
        except UnitError as exc:
            reply: Done | Failed = Failed(str(exc), traceback.format_exc(), permanent=True)
        except Exception as exc:  # noqa: BLE001 - sent back whole, with its traceback
            # The actor's scratch disk is not the run's output disk: a retry elsewhere may help.
            reply = Failed(f"{type(exc).__name__}: {exc}", traceback.format_exc(), permanent=False)
        else:
            reply = Done(sequences, time.monotonic() - t0, started, time.time())
        finally:
            with self.lock:
                reporter.unit_ended()
            shutil.rmtree(work, ignore_errors=True)
        return UnitReply(reply, result, time.time())

    def report(self) -> dict | None:
        """The live readings (the worker's report dict, plus ``clock``)."""
        if self.reporter is None:
            return None
        with self.lock:
            self.reporter.report()
        data = dict(self.status.get(self.spec.index) or {})
        data["clock"] = time.time()
        return data

    def stop(self) -> None:
        """Release the models and the scratch folder; the driver kills the actor next."""
        if self.task is not None:
            self.task.teardown()
        shutil.rmtree(self.scratch, ignore_errors=True)
