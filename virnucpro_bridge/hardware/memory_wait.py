"""Waiting for a GPU's memory to be released before a restarted worker sets up.

A worker killed for a stall or a CUDA error leaves its CUDA context behind
for a moment: the driver frees its memory after the process is gone. A new
worker that loads its models at once can fail for lack of memory. So the
backend records each GPU's used memory before its first worker starts
(``baseline``), and a replacement waits, bounded, until NVML shows the
device back near that level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .nvml import NvmlSampler

MEMORY_SLACK_BYTES = 512 * 2**20  # a CUDA context's own few hundred MiB; other users' noise
MEMORY_SLACK_SHARE = 0.02  # ... or 2 % of a large card, whichever is more
MEMORY_WAIT_S = 60.0  # a killed context is released in seconds; a wedged one is not worth waiting for
MEMORY_POLL_S = 0.25


@dataclass(frozen=True)
class MemoryWait:
    """What a restarted worker waits for before setup: the device's used memory
    back down to ``limit_bytes`` (its level before this run, plus slack)."""

    limit_bytes: int
    timeout_s: float = MEMORY_WAIT_S


def memory_wait_for(baseline: tuple[int, int] | None, timeout_s: float = MEMORY_WAIT_S) -> MemoryWait | None:
    """The wait for a device whose (used, total) before this run's workers was ``baseline``."""
    if baseline is None:
        return None
    used, total = baseline
    return MemoryWait(used + max(MEMORY_SLACK_BYTES, int(MEMORY_SLACK_SHARE * total)), timeout_s)


def wait_for_memory(cuda_index: int, uuid: str | None, wait: MemoryWait, *,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> bool | None:
    """Poll until the device's used memory is at most ``wait.limit_bytes``, or
    ``wait.timeout_s`` passed. True: freed; False: timed out; None: NVML cannot say."""
    sampler = NvmlSampler(cuda_index, uuid)
    try:
        if not sampler.available:
            return None
        deadline = clock() + wait.timeout_s
        while True:
            mem = sampler.memory_bytes()
            if mem is not None and mem[0] <= wait.limit_bytes:
                return True
            if clock() >= deadline:
                return False
            sleep(MEMORY_POLL_S)
    finally:
        sampler.close()
