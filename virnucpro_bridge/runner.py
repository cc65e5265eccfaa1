"""One run, end to end: validate, resume, assign, start workers, finish.

``Run.prepare()`` locks ``--out`` for the life of the process (``runfiles/lock.py``) and
checks everything the user can get wrong (devices, task, models, inputs) before a result
byte is written (:class:`~virnucpro_bridge.errors.LbtuiError`: exit 2, the lock and any
folder it made removed). ``Run.start()`` writes ``run.json`` and starts the dispatcher
thread; the caller runs a UI over ``run.coord``, then ``Run.wait()``; ``Run.stop()`` and
``Run.abort()`` end the run early. One ``RunOptions`` goes whole to the coordinator and
the backend (``backends/base.py``). The dispatcher thread owns the end of the run::

    backend.run() ── returns ────────────────────▶ backend.finish()    ─┐ then always: settle,
                  ── raises OutputError (disk) ──▶ backend.abort()     ─┤ summary.json, exit code
                  ── raises anything else (bug) ─▶ backend.wind_down() ─┘

so ``Run.finished`` always becomes true and the exit code says what happened (0 done,
1 failures, 3 aborted, 130 interrupted). ``abort()`` is the main thread's last resort
when the dispatcher does not end in time.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import replace
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

from .alerts.hooks import HOOK_TIMEOUT_S
from .alerts.run_alerts import RunAlerts
from .backends.base import Backend
from .backends.local.pool import LocalPool, start_manager
from .control.channel import ChannelServer
from .coordinator.coordinator import Coordinator
from .coordinator.device_book import InFlight
from .coordinator.messages import Done, Failed, SetupFailed, Wakeup
from .errors import InputError, OutputError, UsageError, environment_error
from .hardware import slurm
from .hardware.devices import DeviceSpec, select_gpus, unknown_weight_warnings
from .hardware.nvml import pin_device_order
from .hardware.torch_build import require_cuda_torch
from .inputs import gzip_cache
from .inputs.plan import plan_units
from .inputs.units import Unit, discover, summarize_inputs
from .options import RunOptions
from .policy.planning import plan_bounds
from .runfiles.completion import Completion
from .runfiles.journal import Journal
from .runfiles.lock import FolderLock
from .runfiles.manifest import ManifestEntry
from .runfiles.metrics_log import MetricsLog
from .runfiles.metrics_log import check_writable as check_metrics_log
from .runfiles.outputs import (
    Resume,
    check_writable,
    new_run_id,
    prepare_out,
    what_changed,
    write_run_json,
    write_summary,
)
from .runfiles.reader import earlier_sessions, last_event_seq
from .runfiles.sessions import close_session, start_line
from .tasks import Task, load_task

ABORT_SLACK_S = 10.0  # past --grace, how long the main thread waits before it ends the run itself


def resolve_task_name(requested: str | None, devices: list[DeviceSpec]) -> str:
    sim = [d for d in devices if d.kind == "sim"]
    if sim and requested not in (None, "sim"):
        raise UsageError(f"--task {requested}: simulated devices (--gpus sim:...) run only the sim task")
    if requested is None:
        return "sim" if sim else "virnucpro"
    return requested


def peak_rss_kib(usage: resource.struct_rusage) -> int:
    """This process's peak resident memory (KiB; the main process only, workers are
    separate). Linux's ``ru_maxrss`` keeps the peak of whatever ran in this process
    before ``exec``: a large parent (a benchmark driver) that spawned lbtui shows
    through. ``VmHWM`` is the peak of this program's own memory."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return usage.ru_maxrss  # KiB on Linux; elsewhere the best there is


class Run:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.out = Path(options.out).expanduser().resolve()
        self._out_text = str(self.out)
        self.warnings: list[str] = []
        self.coord: Coordinator  # from start(); the UI gets it as start()'s return
        self.exit_code: int | None = None
        self.error: str | None = None  # the one line to print when the run was aborted
        self._thread: threading.Thread | None = None
        self._journal_ok = True
        self.lock: FolderLock | None = None  # --out's lock, from prepare() to the process's end

    # -- validation: nothing is written before this passes -----------------------
    def prepare(self) -> None:
        cfg = self.options
        if cfg.backend == "ray":
            from .backends.ray.cluster import require_ray

            require_ray()  # before anything else is checked or started
        check_writable(self.out)
        # Before anything in --out is read: a second run on the folder stops here (exit 2).
        self.lock = FolderLock.acquire(self.out)
        try:
            self._prepare()
        except BaseException:
            self.lock.release(undo=True)  # nothing was written: leave no folder behind either
            raise

    def _prepare(self) -> None:
        cfg = self.options
        pin_device_order()  # CUDA and NVML must number mixed GPU models the same way
        self.device_notes: list[str] = []  # event-log lines about how the GPUs were found
        self.notices: list[str] = []  # also in summary.json and the closing lines
        if cfg.backend == "ray":
            self.devices = self._ray_devices()
        else:
            self.devices, found = select_gpus(cfg.gpus)
            if found is not None and any(d.kind == "cuda" for d in self.devices):
                self.warnings += found.warnings
                self.device_notes += found.notes
            elif found is not None:  # --gpus auto found no CUDA device: say so wherever the run is read
                fallback = (f"no CUDA device found: running on {len(self.devices)} CPU workers "
                            f"(--gpus cpu:N to choose how many)")
                self.notices.append(fallback)  # summary.json, the closing lines
                self.warnings.append(fallback)  # stderr at the start, the event log
        self._slurm_checks()
        self.warnings += unknown_weight_warnings(self.devices)
        self.task_name = resolve_task_name(cfg.task, self.devices)
        self.task: Task = load_task(self.task_name)(cfg.task_options)
        if cfg.backend == "local" and self.task.needs_cuda_torch and any(d.kind == "cuda" for d in self.devices):
            require_cuda_torch()  # before task.check(), which may import torch itself
        files = discover(cfg.inputs)
        if cfg.metrics_log:
            check_metrics_log(cfg.metrics_log)
        self.alerts = RunAlerts(str(self.out), command=cfg.notify, url=cfg.notify_url)  # refuses bad hooks
        self.notices += self.task.check()
        self.fingerprint = self.task.fingerprint()
        # Earlier runs' rows are only read here; start() repairs a torn last line.
        self.resume = Resume(self.out, self.task_name, self.fingerprint)
        # Plan-time seconds become residues at an average device's prior speed.
        weights = [d.weight if cfg.weighted else 1.0 for d in self.devices]
        rate = self.task.rate_prior() * sum(weights) / len(weights)
        bounds = plan_bounds(cfg.shard_size, cfg.split_min, rate, self.task.unit_overhead_s)
        self.parts = self.task.parts if type(self.task).parts is not Task.parts else None
        cut_inside = cfg.split and self.task.splittable and self.parts is not None
        plan = plan_units(files, cache_dir=gzip_cache.default_dir(),
                          devices=len(self.devices) if cfg.split else 0,
                          parts=self.parts if cut_inside else None, done=self.resume.done,
                          alphabet=self.task.alphabet, **bounds)
        self.warnings += plan.warnings
        redo = self.resume.redo_line(what_changed(self.out, self.task_name, self.task.fingerprint_parts()))
        if redo is not None:
            self.warnings.append(redo)  # said before the run starts (exit codes, resume: README)
        if not plan.wholes:
            raise InputError("no sequences in the inputs (every FASTA file is empty)")
        self.plan = plan
        self.all_units = plan.units  # what is left to do: the gaps between kept ranges

    def _slurm_checks(self) -> None:
        """--grace under Slurm (below KillWait), and a warning when a batch script runs
        lbtui as its child: Slurm's stop signal then never reaches it."""
        self.job = slurm.job_id()
        grace, note, warning = slurm.choose_grace(self.options.grace, slurm.kill_wait())
        self.grace = grace  # --grace as chosen: what a stop may take
        self.options = replace(self.options, grace=grace)  # the coordinator's housekeeping keeps to it too
        self.device_notes += [note] if note else []
        self.warnings += [warning] if warning else []
        if self.job is not None:
            self.device_notes.append(f"Slurm job {self.job} on {socket.gethostname()}")
        if slurm.batch_child():
            self.warnings.append("this Slurm batch script runs lbtui as its child: Slurm's SIGTERM (scancel, "
                                 "requeue, preemption, time limit) reaches only the script, and lbtui is "
                                 "killed with it, losing its units in flight; start it with `exec lbtui run "
                                 "...` (see examples/slurm/lbtui.sbatch)")

    def output_for(self, unit: Unit) -> str:
        """Absolute result path of ``unit`` (the task names it). Joined as text: a Path
        per unit would intern every name's parts for the rest of the process."""
        return os.path.join(self._out_text, self.task.output_path(unit))

    # -- start ---------------------------------------------------------------------
    def start(self) -> Coordinator:
        """Create ``--out``, start the workers and the dispatcher. A disk that
        fails already here raises OutputError (exit 3) with nothing started."""
        cfg = self.options
        started = time.time()
        self.run_id = new_run_id(started)
        try:
            prepare_out(self.out)
        except OSError as exc:
            raise OutputError(environment_error(exc, str(self.out)) or f"cannot use --out {self.out}: {exc}") from exc
        last_seq = last_event_seq(self.out)  # this session's events are numbered after the earlier ones
        self.journal = Journal(self.out, run_id=self.run_id, last_event=last_seq)  # repairs a torn last line
        self.earlier = earlier_sessions(self.out)  # before run.json and sessions.jsonl say this one started
        todo = self.all_units
        self.files = Completion(self.plan.wholes, self.resume.kept, self._out_text, self._finalize)
        kept = self.files.kept_pieces
        self.plan = replace(self.plan, units=[], wholes=[])  # the coordinator's queues hold the units now
        self.all_units = []
        self.wakeup = Wakeup()
        # Ray actors report through calls the dispatcher makes: no Manager process.
        self.manager: SyncManager | None = None
        status: MutableMapping[int, Any] = {}
        if cfg.backend != "ray":
            self.manager, status = start_manager()
        self.coord = Coordinator(
            self.devices, todo, cfg, status=status, name=summarize_inputs(cfg.inputs), task=self.task_name,
            out_dir=str(self.out), skipped=kept, notices=self.notices, wake=self.wakeup.wake,
            splittable=self.task.splittable, parts=self.parts, indexes=self.plan.indexes,
            unit_overhead_s=self.task.unit_overhead_s, nominal_rate=self.task.rate_prior(),
            first_seq=last_seq + 1,
        )
        for line in self.warnings:
            self.coord.info(line, "warning")
        for line in self.device_notes:
            self.coord.info(line)
        self.alerts.watch(self.coord)
        if kept:
            self.coord.info(f"resuming: {kept} pieces ({self.files.kept_records:,} sequences) "
                            f"already done in {self.out}")
        self.files.merge_complete()
        self.coord.assign_initial()
        self.metrics = MetricsLog(cfg.metrics_log) if cfg.metrics_log else None
        self.backend = self._backend(status)
        pids = self.backend.start() if todo else []
        nodes = self.backend.nodes if todo else []
        self.channel = ChannelServer(self.out, self.coord, run_id=self.run_id)  # closes at process exit
        if (control := self.channel.start()) is None:
            self.coord.info(f"lbtui attach will not reach this run: {self.channel.problem}", "warning")
        self._record_start(started, pids, nodes, control)
        self._thread = threading.Thread(target=self._dispatch, name="lbtui-dispatcher", daemon=True)
        self._thread.start()
        return self.coord

    def _backend(self, status: MutableMapping[int, Any]) -> Backend:
        """The backend that runs this session's workers: Ray actors or local processes."""
        cfg = self.options
        if cfg.backend == "ray":
            from .backends.ray.backend import RayPool

            return RayPool(self.coord, self.devices, cfg, task_name=self.task_name, outputs=self.output_for,
                           sink=self, status=status, wakeup=self.wakeup, out_dir=str(self.out),
                           pinned=self._pinned, node_names=self._node_names)
        return LocalPool(self.coord, self.devices, cfg, task_name=self.task_name, outputs=self.output_for,
                         sink=self, status=status, wakeup=self.wakeup, out_dir=str(self.out))

    def _record_start(self, started: float, pids: list[int | None], nodes: list[str],
                      control: dict[str, str] | None) -> None:
        """run.json (who runs it, how to reach it) and this session's line in sessions.jsonl."""
        cfg = self.options
        write_run_json(self.out, run_id=self.run_id, argv=list(cfg.argv), task=self.task_name,
                       inputs=list(cfg.inputs), fingerprint=self.fingerprint,
                       fingerprint_parts=self.task.fingerprint_parts(), task_options=self.task.options,
                       started=started, devices=[
                           {"index": d.index, "device": d.name, "kind": d.kind, "weight": d.weight,
                            "pid": pids[d.index] if pids else None,
                            "node": nodes[d.index] if nodes else ""} for d in self.devices], control=control,
                       metrics_log=cfg.metrics_log, slurm_job=self.job)
        kept, kept_seqs = self.files.kept_pieces, self.files.kept_records
        self.session = start_line(self.run_id, started, [
            {"index": d.index, "name": d.name, "kind": d.kind, "weight": d.weight} for d in self.devices], {
            "units_total": self.coord.units_total + kept, "units_kept": kept,
            "sequences_total": self.coord.counts.sequences_total + kept_seqs, "sequences_kept": kept_seqs})
        self.journal.session_line(self.session)

    # -- the dispatcher thread: it alone ends the run --------------------------------
    def _dispatch(self) -> None:
        self._dispatch_cpu = time.thread_time()
        try:
            try:
                if self.coord.units_total:
                    self.backend.run()
                    self.backend.finish()
            except OutputError as exc:  # the disk failed: units in flight could not be written either
                self._abort(str(exc), wait=False)
            except BaseException as exc:  # a bug in the engine: keep what is written, say so
                self._abort(f"internal error: {type(exc).__name__}: {exc} (details in errors.log)",
                            wait=True)
        finally:
            self._close_out()

    def _abort(self, message: str, *, wait: bool) -> None:
        self.coord.abort(message)
        self._log_error("run aborted", traceback.format_exc())
        try:
            if wait:
                self.backend.wind_down(self.grace, record=self._journal_ok)
            else:
                self.backend.abort()
                self.backend.finish()
        except BaseException:  # noqa: BLE001 - winding down failed too: stop hard
            self._log_error("wind-down", traceback.format_exc())
            self.backend.abort()

    def _close_out(self) -> None:
        code = 3
        try:
            code = self.coord.settle()
            self.coord.freeze_reports()
            summary = self.coord.close_out(code)
            summary.update(self.task.summary())
            usage = resource.getrusage(resource.RUSAGE_SELF)
            summary["main_peak_rss_mb"] = round(peak_rss_kib(usage) / 1024, 1)
            summary["main_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)  # scan, plan and dispatch
            # the dispatcher thread alone: what scheduling costs per unit, whatever the workers cost
            summary["dispatch_cpu_s"] = round(time.thread_time() - self._dispatch_cpu, 3)
            # what an earlier session left that this one kept, and what it redid and why
            summary["resume"] = {"kept_pieces": self.files.kept_pieces, "kept_sequences": self.files.kept_records,
                                 "redone": dict(self.resume.redo)}
            self._write_end(summary)
        except OutputError as exc:  # the run itself went well, but its record could not be kept
            self.coord.abort(str(exc))
            code = 3
        except BaseException:  # noqa: BLE001 - never leave the UI waiting for an exit code
            self.coord.abort("internal error while finishing the run (details in errors.log)")
            self._log_error("finish", traceback.format_exc())
            code = 3
        finally:
            self.error = self.coord.error
            self.exit_code = code
            self.alerts.end(code, self.error)
            try:
                if self.manager is not None:
                    self.manager.shutdown()
            except Exception:  # noqa: BLE001 - already gone: nothing to release
                pass
            if self.options.backend == "ray":
                from .backends.ray.cluster import disconnect

                disconnect()  # also stops a local Ray instance

    def _write_end(self, summary: dict[str, Any]) -> None:
        try:
            if self._journal_ok:
                snap = self.coord.snapshot()
                self.journal.new_events(snap.events)
                self.journal.sample(snap)
            if self.metrics:
                self.metrics.append(self.coord.snapshot())
            end = close_session(summary, self.session, self.earlier)  # the whole run, every session
            if self._journal_ok:
                self.journal.session_line(end)
        finally:
            self.journal.close()
            if self.metrics:
                self.metrics.close()
        write_summary(self.out, summary)

    def stop(self, now: bool = False) -> None:
        """Stop handing out work; units in flight are cut at their next boundary,
        keeping what they did, within --grace (the dispatcher ends the run).
        ``now``: kill the workers at once as well.
        Safe from a signal handler: no lock is taken."""
        self.coord.stop(now=now)
        if now:
            self.backend.abort()

    def abort(self, reason: str) -> int:
        """Main thread, last resort: the dispatcher did not end in time (or a
        second Ctrl+C). Kill the workers, keep what is written, return the code."""
        if self.exit_code is not None:
            return self.exit_code
        self.stop(now=True)
        closed = self.wait(2.0)  # the dispatcher may still close out now that the workers are gone
        if closed is not None:
            return closed
        self.error = reason
        code = 130 if self.coord.error is None else 3
        self.alerts.end(code, reason, look=False)  # the dispatcher never closed out: say it here
        return code

    def close(self) -> None:
        """After the run: stop serving ``lbtui attach`` and give the folder's lock back, in
        that order (the process's exit does both; a caller that runs again in-process calls it)."""
        channel = getattr(self, "channel", None)
        if channel is not None:
            channel.close()
        if self.lock is not None:
            self.lock.release()

    def wait(self, timeout: float | None = None) -> int | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.exit_code

    @property
    def finished(self) -> bool:
        return self.exit_code is not None

    @property
    def dispatching(self) -> bool:
        """The dispatcher thread is still alive (False once it ended, however it ended)."""
        return self._thread is not None and self._thread.is_alive()

    def _ray_devices(self) -> list[DeviceSpec]:
        """Connect to Ray (or start it locally) and list the devices it offers."""
        from .backends.ray import cluster as ray_cluster

        cfg = self.options
        if cfg.ray_address is not None and not cfg.ray_address.strip():
            raise UsageError("--ray-address: empty value")
        ray_cluster.require_ray()
        ray_cluster.connect(cfg.ray_address, num_cpus=ray_cluster.local_cpus(cfg.gpus))
        try:
            devices, self._pinned = ray_cluster.cluster_devices(cfg.gpus)
            self._node_names = ray_cluster.node_names(ray_cluster.alive_nodes())
        except BaseException:
            ray_cluster.disconnect()
            raise
        return devices

    # -- the backend's sink (dispatcher thread) -----------------------------------------
    def unit_done(self, index: int, flight: InFlight, done: Done) -> None:
        unit, spec = flight.unit, self.coord.books[index].spec  # a Ray GPU is named once its actor is up
        output = flight.output or self.output_for(unit)
        prefix = str(self.out) + os.sep
        rel_output = output[len(prefix):] if output.startswith(prefix) else os.path.relpath(output, self.out)
        row = ManifestEntry(
            file=unit.rel, shard=unit.shard, device_index=index, device=spec.name,
            sequences=done.sequences, seconds=round(done.seconds, 6), stolen=flight.stolen,
            attempt=flight.attempt, output=rel_output, sha256=unit.sha256, start=unit.start,
            count=unit.count, task=self.task_name, fingerprint=self.fingerprint,
            run_id=self.run_id, started=round(done.started, 3), ended=round(done.ended, 3),
            split_from=unit.split_from, node=done.node, part=unit.part, end_part=unit.end_part,
            output_sha256=done.output_sha256, output_size=done.output_size,
        )
        self._journal(self.journal.unit_done, row)
        self.files.add(unit, output)  # raises if a part were done twice; merges a complete file

    def unit_failed(self, index: int, flight: InFlight, failed: Failed) -> None:
        self._log_error(f"{self.devices[index].label} {flight.unit.uid} attempt {flight.attempt}",
                        failed.traceback or failed.error)

    def setup_failed(self, index: int, failed: SetupFailed) -> None:
        self._log_error(f"{self.devices[index].label} setup", failed.traceback or failed.error)

    def tick(self, sample: bool) -> None:
        snap = self.coord.snapshot() if sample else None
        self._journal(self.journal.new_events, tuple(self.coord.events))
        if snap is not None:
            self._journal(self.journal.sample, snap)
            if self.metrics:
                self.metrics.append(snap)
            self.alerts.observe(snap)

    def close_alerts(self, timeout: float = HOOK_TIMEOUT_S) -> list[str]:
        """Let the last alerts go out (at most ``timeout`` s; the run has ended and its
        summary is written); returns the hook failures no event log could take."""
        return self.alerts.close(timeout)

    def _journal(self, write: Callable[..., None], *args: Any) -> None:
        try:
            write(*args)
        except OutputError:
            self._journal_ok = False  # the wind-down must not try again
            raise

    def _finalize(self, rel: str, pieces: Iterable[tuple[Unit, str]]) -> None:
        if type(self.task).finalize_file is Task.finalize_file:
            return  # the task merges nothing (sim): no call per file
        units = [(unit, Path(output)) for unit, output in pieces]
        try:
            self.task.finalize_file(rel, units, self.out)
        except Exception as exc:  # noqa: BLE001 - one file's merge must not end the run
            disk = environment_error(exc, str(self.out))
            if disk is not None:  # ... unless the disk failed: then nothing else can be written
                raise OutputError(disk) from exc
            message = f"{rel}: merging results failed: {type(exc).__name__}: {exc}"
            self.coord.merge_failure(rel, message)
            self._log_error("finalize " + rel, traceback.format_exc())

    def _log_error(self, where: str, text: str) -> None:
        """errors.log, best effort: a full disk must not hide the error being logged."""
        try:
            self.journal.error(where, text)
        except OutputError:
            pass
