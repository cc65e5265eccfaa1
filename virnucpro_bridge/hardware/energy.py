"""Energy a GPU used while a worker ran on it, for "Wh per million sequences".

NVML's total energy counter (millijoules since the driver loaded; Volta and
later) read at the start and at each report; where the GPU has none (older
GPUs, a MIG instance) the power readings the reporter takes anyway, integrated
over time (trapezoids between reports). The counter covers the whole GPU:
another process on it counts too.
"""

from __future__ import annotations

from typing import Any


class EnergyMeter:
    """Joules since construction from ``sampler`` (a ``nvml.NvmlSampler``)."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler
        self._first = sampler.energy_mj()
        self.source = "counter" if self._first is not None else "power"
        self._joules: float | None = None
        self._last: tuple[float, float] | None = None  # (time, watts) of the last power reading

    def read(self, watts: float | None, now: float) -> float | None:
        """Joules used so far; ``watts`` and ``now`` are this report's power reading and time
        (used when there is no counter). None until something is known."""
        if self._first is not None:
            current = self.sampler.energy_mj()
            if current is not None:
                self._joules = max(0.0, (current - self._first) / 1000.0)
            return self._joules
        if watts is not None:
            if self._last is not None:
                t0, w0 = self._last
                self._joules = (self._joules or 0.0) + max(0.0, now - t0) * (w0 + watts) / 2.0
            else:
                self._joules = self._joules or 0.0
            self._last = (now, watts)
        return self._joules
