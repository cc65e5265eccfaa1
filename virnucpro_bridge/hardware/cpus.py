"""How many CPU threads each worker's torch may use.

A worker's math libraries (OpenMP, MKL, OpenBLAS) each start one thread per
core they think they have. ``os.cpu_count`` counts the whole node, not the
CPUs this process may run on: under Slurm, a container or ``taskset`` a job
holds a few cores of many, and eight workers with full pools each fight over
them. The CPUs come from ``os.sched_getaffinity`` and are divided among the
workers on this machine (GPU workers too: their tokenising, batching and
result writing run on the CPU).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """Each of ``workers`` workers' share of ``cpus`` (default: this process's), at least 1."""
    return max(1, (usable_cpus() if cpus is None else cpus) // max(1, workers))


def set_thread_env(threads: int, environ: MutableMapping[str, str] | None = None) -> None:
    """The math libraries' pool sizes, read when torch is imported (so: before)."""
    env = os.environ if environ is None else environ
    for var in THREAD_VARS:
        env[var] = str(threads)
