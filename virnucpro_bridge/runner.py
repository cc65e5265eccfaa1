"""One run, end to end: validate, resume, assign, start workers, finish.

``Run.prepare()`` checks everything the user can get wrong (devices, task,
models, inputs, ``--out``) before a single byte is written, raising
:class:`~virnucpro_bridge.errors.LbtuiError` (exit 2). ``Run.start()``
writes ``run.json`` and starts the dispatcher thread; the caller runs a UI
on the main thread over ``run.coord`` and then calls ``Run.wait()``.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .coordinator import Coordinator
from .device_book import InFlight
from .devices import DeviceSpec, parse_gpus, unknown_weight_warnings
from .errors import InputError, UsageError
from .metrics_log import MetricsLog
from .metrics_log import check_writable as check_metrics_log
from .nvml import pin_device_order
from .outputs import (ManifestEntry, ManifestWriter, check_writable, completed_units, prepare_out,
                      write_run_json, write_summary)
from .pool import LocalPool, start_manager
from .tasks import Task, load_task
from .units import Unit, build_units, discover, summarize_inputs

ERRORS_LOG = "errors.log"


@dataclass
class RunConfig:
    inputs: list[str]
    gpus: str = "auto"
    task: str | None = None
    out: str = "lbtui-results"
    steal: bool = True
    weighted: bool = True
    steal_interval: float = 2.0
    stall_timeout: float = 300.0
    retries: int = 2
    shard_size: int = 10_000
    grace: float = 30.0
    refresh: float = 2.0
    metrics_log: str | None = None
    task_options: dict = field(default_factory=dict)
    argv: list[str] = field(default_factory=lambda: list(sys.argv))


def resolve_task_name(requested: str | None, devices: list[DeviceSpec]) -> str:
    sim = [d for d in devices if d.kind == "sim"]
    if sim and requested not in (None, "sim"):
        raise UsageError(f"--task {requested}: simulated devices (--gpus sim:...) run only the sim task")
    if requested is None:
        return "sim" if sim else "virnucpro"
    return requested


class Run:
    def __init__(self, config: RunConfig) -> None:
        self.cfg = config
        self.out = Path(config.out).expanduser().resolve()
        self.warnings: list[str] = []
        self.coord: Coordinator | None = None
        self.exit_code: int | None = None
        self._thread: threading.Thread | None = None

    # -- validation: nothing is written before this passes -----------------------
    def prepare(self) -> None:
        cfg = self.cfg
        pin_device_order()  # CUDA and NVML must number mixed GPU models the same way
        self.devices = parse_gpus(cfg.gpus)
        self.warnings += unknown_weight_warnings(self.devices)
        self.task_name = resolve_task_name(cfg.task, self.devices)
        self.task: Task = load_task(self.task_name)(cfg.task_options)
        files = discover(cfg.inputs)
        units, warnings = build_units(files, cfg.shard_size)
        self.warnings += warnings
        if not units:
            raise InputError("no sequences in the inputs (every FASTA file is empty)")
        check_writable(self.out)
        if cfg.metrics_log:
            check_metrics_log(cfg.metrics_log)
        self.notices = list(self.task.check())
        self.fingerprint = self.task.fingerprint()
        self.all_units = units
        self.outputs = {u.uid: str(self.out / self.task.output_path(u)) for u in units}

    # -- start ---------------------------------------------------------------------
    def start(self) -> Coordinator:
        cfg = self.cfg
        prepare_out(self.out)
        done = completed_units(self.all_units, self.out, self.task_name, self.fingerprint)
        todo = [u for u in self.all_units if u.uid not in done]
        self.files: dict[str, list[Unit]] = defaultdict(list)
        for unit in self.all_units:
            self.files[unit.rel].append(unit)
        self.pending = {rel: {u.uid for u in us if u.uid not in done} for rel, us in self.files.items()}
        self.manager, status = start_manager()
        self.coord = Coordinator(
            self.devices, todo, status=status, name=summarize_inputs(cfg.inputs), task=self.task_name,
            out_dir=str(self.out), weighted=cfg.weighted, stealing=cfg.steal, retries=cfg.retries,
            stall_timeout=cfg.stall_timeout, skipped=len(done), notices=self.notices,
        )
        for line in self.warnings:
            self.coord.info(line, "warning")
        if done:
            self.coord.info(f"resuming: {len(done)} of {len(self.all_units)} units already done in {self.out}")
        for rel, left in self.pending.items():
            if not left:
                self._finalize(rel)  # all done earlier: make sure the per-file results exist
        self.coord.assign_initial()
        self.manifest = ManifestWriter(self.out)
        self.metrics = MetricsLog(cfg.metrics_log) if cfg.metrics_log else None
        self.pool = LocalPool(
            self.coord, self.devices, self.task_name, self.task.options, self.outputs, self, status,
            steal_interval=cfg.steal_interval, grace=cfg.grace, refresh=cfg.refresh,
            on_tick=self._tick if self.metrics else None,
        )
        pids = self.pool.start() if todo else []
        write_run_json(self.out, argv=cfg.argv, task=self.task_name, started=time.time(), devices=[
            {"index": d.index, "device": d.name, "kind": d.kind, "weight": d.weight,
             "pid": pids[d.index] if pids else None} for d in self.devices])
        self._thread = threading.Thread(target=self._dispatch, name="lbtui-dispatcher", daemon=True)
        self._thread.start()
        return self.coord

    def _dispatch(self) -> None:
        try:
            if self.coord.units:
                code = self.pool.run()
            else:  # everything was done before: only the per-file merges ran
                code = 1 if self.coord.merge_failed else 0
        except BaseException:  # a bug in the engine: keep what is written, say so, exit 1
            self.coord.errors.append("internal error: " + traceback.format_exc().strip().splitlines()[-1])
            self._log_error("dispatcher", traceback.format_exc())
            self.pool._kill_all()
            self.pool._flush_sink()  # units finished before the error keep their manifest lines
            code = 1
        reports = self.coord._reports()
        with self.coord.lock:
            self.coord.status = reports  # freeze the last readings
            summary = self.coord.finish(code)
        # ru_maxrss is KiB on Linux; the main process only (workers are separate)
        summary["main_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if self.metrics:
            self.metrics.append(self.coord.snapshot())
            self.metrics.close()
        self.manifest.close()
        write_summary(self.out, summary)
        self.exit_code = code
        try:
            self.manager.shutdown()
        except Exception:  # already gone: nothing to release
            pass

    def _tick(self) -> None:
        if self.metrics:
            self.metrics.append(self.coord.snapshot())

    def wait(self, timeout: float | None = None) -> int | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.exit_code

    @property
    def finished(self) -> bool:
        return self.exit_code is not None

    # -- the pool's sink (dispatcher thread) -----------------------------------------
    def unit_done(self, index: int, flight: InFlight, sequences: int, seconds: float) -> None:
        unit, spec = flight.unit, self.devices[index]
        self.manifest.append(ManifestEntry(
            file=unit.rel, shard=unit.shard, device_index=index, device=spec.name,
            sequences=sequences, seconds=round(seconds, 6), stolen=flight.stolen,
            attempt=flight.attempt, output=os.path.relpath(self.outputs[unit.uid], self.out),
            sha256=unit.sha256, start=unit.start, count=unit.count, task=self.task_name,
            fingerprint=self.fingerprint,
        ))
        left = self.pending[unit.rel]
        left.discard(unit.uid)
        if not left:
            self._finalize(unit.rel)

    def unit_failed(self, index: int, flight: InFlight, error: str, tb: str) -> None:
        self._log_error(f"{self.devices[index].label} {flight.unit.uid} attempt {flight.attempt}",
                        tb or error)

    def setup_failed(self, index: int, error: str, tb: str) -> None:
        self._log_error(f"{self.devices[index].label} setup", tb or error)

    def _finalize(self, rel: str) -> None:
        units = [(u, Path(self.outputs[u.uid])) for u in self.files[rel]]
        try:
            self.task.finalize_file(rel, units, self.out)
        except Exception as exc:  # noqa: BLE001 - one file's merge must not end the run
            message = f"{rel}: merging results failed: {type(exc).__name__}: {exc}"
            self.coord.merge_failure(rel, message)
            self._log_error("finalize " + rel, traceback.format_exc())

    def _log_error(self, where: str, text: str) -> None:
        with open(self.out / ERRORS_LOG, "a", encoding="utf-8") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {where}\n{text.rstrip()}\n")
