"""Slurm, when the run is a job: what it lent this process, and how it will stop it.

    job_id()            SLURM_JOB_ID, None outside a job
    gpus_allocated()    the GPU list the scheduler (or the user) handed this process
    kill_wait()         KillWait from ``scontrol show config``: the seconds between Slurm's
                        SIGTERM and its SIGKILL (None when unknown; never waits on a hung scontrol)
    choose_grace()      --grace: as given, or DEFAULT_GRACE_S, or KillWait less GRACE_MARGIN_S
    batch_child()       a batch script runs lbtui as its child (no ``exec``): Slurm's SIGTERM
                        goes to the script alone, and lbtui is SIGKILLed as soon as the script ends

Slurm stops a job (scancel, requeue, preemption, the time limit) by sending
SIGTERM to the batch script's process, waiting KillWait seconds, then
SIGKILLing everything in the job. The stop must be over before the SIGKILL:
the units in flight cut and recorded, the workers stopped, summary.json written.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading

DEFAULT_GRACE_S = 20.0  # a stop's cuts take one batch; 20 s leaves Slurm's default KillWait (30 s) 10 s to spare
GRACE_MARGIN_S = 10.0  # past the grace: stop the workers, write the summary, exit (about a second; 10 to be safe)
SCONTROL_TIMEOUT_S = 3.0  # a slurmctld that does not answer must not hold up the start of a run
NO_DEVICES = ("", "-1", "NoDevFiles", "none")  # what CUDA_VISIBLE_DEVICES holds when a job has no GPU


def job_id() -> str | None:
    """SLURM_JOB_ID (each array task has its own), None outside a Slurm job."""
    return os.environ.get("SLURM_JOB_ID", "").strip() or None


def gpus_allocated() -> str | None:
    """``CUDA_VISIBLE_DEVICES=0,1`` (or ``SLURM_JOB_GPUS=...``) when this process was
    handed GPUs, else None: a GPU job whose CUDA does not work must not run on CPU."""
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        value = os.environ.get(name)
        if value is not None and value.strip() not in NO_DEVICES:
            return f"{name}={value.strip()}"
    return None


def kill_wait(timeout: float = SCONTROL_TIMEOUT_S) -> float | None:
    """KillWait in seconds as ``scontrol show config`` reports it; None outside a job,
    without scontrol, or when it does not answer within ``timeout`` (it runs in a
    thread of its own, so even a scontrol stuck in the kernel cannot hold us)."""
    if job_id() is None:
        return None
    found: list[float] = []

    def ask() -> None:
        try:
            text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                                  timeout=timeout, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return
        match = re.search(r"(?m)^\s*KillWait\s*=\s*(\d+)", text)
        if match:
            found.append(float(match.group(1)))

    thread = threading.Thread(target=ask, name="lbtui-scontrol", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return found[0] if found else None


def choose_grace(requested: float | None, killwait: float | None) -> tuple[float, str | None, str | None]:
    """(--grace, a note saying where it came from, a warning that it is too long for
    Slurm). Under Slurm the default is KillWait less GRACE_MARGIN_S (half of KillWait
    when that is 20 s or less), so a stop ends before Slurm's SIGKILL."""
    if killwait is None:
        return (requested if requested is not None else DEFAULT_GRACE_S), None, None
    fits = killwait - GRACE_MARGIN_S if killwait > 2 * GRACE_MARGIN_S else killwait / 2
    if requested is None:
        return fits, f"--grace {fits:g} s: Slurm's KillWait ({killwait:g} s) less the time to stop and write", None
    if requested > fits:
        return requested, None, (f"--grace {requested:g} s is longer than Slurm's KillWait ({killwait:g} s) "
                                 f"allows: Slurm may SIGKILL the run before it stops; use --grace {fits:g} or less")
    return requested, None, None


def batch_child() -> bool:
    """True in a Slurm batch step when this process is not the batch script's own
    process (``SLURM_TASK_PID``): a shell or wrapper that did not ``exec`` lbtui stands
    between Slurm's SIGTERM and us. An srun step signals every process in it."""
    if job_id() is None or os.environ.get("SLURM_STEP_ID") is not None:
        return False
    script = os.environ.get("SLURM_TASK_PID", "").strip()
    return script.isdigit() and int(script) != os.getpid()
