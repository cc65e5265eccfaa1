"""NVML readings for CUDA devices, through nvidia-ml-py's ``pynvml``.

Everything here degrades to ``None`` / ``[]``: no pynvml, no driver library,
no GPU, or a call that fails (a GPU fell off the bus) never raises. NVML is
used instead of torch so that listing devices never creates a CUDA context
in the main process.

CUDA and NVML number devices differently: NVML by PCI bus id, CUDA (by
default) fastest first, and then only those in ``CUDA_VISIBLE_DEVICES``.
Call :func:`pin_device_order` before any CUDA use so both agree.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any


def pin_device_order() -> None:
    """Make CUDA number devices by PCI bus id, as NVML does (unless the user chose)."""
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")


def _init() -> ModuleType | None:
    """pynvml, initialised; None when it or the driver library is missing."""
    try:
        import pynvml
    except Exception:  # ImportError, or a broken install
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


def _shutdown(nv: ModuleType) -> None:
    try:
        nv.nvmlShutdown()
    except Exception:
        pass


def _text(value: Any) -> str:
    # Older pynvml returns bytes, newer returns str.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _visible(nv: ModuleType) -> list[int] | None:
    """NVML indices of the CUDA devices this process sees, in CUDA order.

    None when ``CUDA_VISIBLE_DEVICES`` names devices NVML cannot resolve (MIG).
    """
    count = nv.nvmlDeviceGetCount()
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return list(range(count))
    uuids: list[str] | None = None
    out: list[int] = []
    for entry in (e.strip() for e in env.split(",")):
        if not entry:
            break
        try:
            index = int(entry)
        except ValueError:
            if not entry.startswith("GPU-"):
                return None  # MIG-... or something else only CUDA can resolve
            if uuids is None:
                uuids = [_text(nv.nvmlDeviceGetUUID(nv.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
            # CUDA accepts any unique UUID prefix.
            hits = [i for i, u in enumerate(uuids) if u.startswith(entry)]
            if len(hits) != 1:
                break
            index = hits[0]
        # CUDA stops at the first entry that names no device.
        if not 0 <= index < count or index in out:
            break
        out.append(index)
    return out


def _torch_devices() -> list[tuple[int, str]]:
    """Fallback through torch (may initialise CUDA); [] when torch is missing."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return []
    try:
        import torch

        n = torch.cuda.device_count()
        return [(i, torch.cuda.get_device_name(i)) for i in range(n)]
    except Exception:
        return []


def cuda_devices() -> list[tuple[int, str]]:
    """CUDA devices visible to this process as ``(cuda index, model name)``."""
    nv = _init()
    if nv is None:
        return []
    try:
        visible = _visible(nv)
        if visible is not None:
            return [
                (cuda, _text(nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(i))))
                for cuda, i in enumerate(visible)
            ]
    except Exception:
        return []
    finally:
        _shutdown(nv)
    return _torch_devices()


@dataclass(frozen=True)
class Reading:
    utilization: float | None  # percent of time a kernel ran
    memory: float | None  # percent of total memory used
    temperature: float | None  # degrees C
    power: float | None  # watts


NO_READING = Reading(None, None, None, None)


class NvmlSampler:
    """Reads one CUDA device's counters; cheap to call once per poll."""

    def __init__(self, cuda_index: int) -> None:
        self._nv = _init()
        self._handle: Any = None
        if self._nv is None:
            return
        try:
            visible = _visible(self._nv)
            if visible is not None and 0 <= cuda_index < len(visible):
                self._handle = self._nv.nvmlDeviceGetHandleByIndex(visible[cuda_index])
        except Exception:
            self._handle = None
        if self._handle is None:
            self.close()

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._nv, fn)(self._handle, *args)
        except Exception:
            return None

    def read(self) -> Reading:
        """The device's readings now; a field is None when its query fails."""
        if self._handle is None or self._nv is None:
            return NO_READING
        nv = self._nv
        util = self._call("nvmlDeviceGetUtilizationRates")
        mem = self._call("nvmlDeviceGetMemoryInfo")
        temp = self._call("nvmlDeviceGetTemperature", getattr(nv, "NVML_TEMPERATURE_GPU", 0))
        power_mw = self._call("nvmlDeviceGetPowerUsage")
        memory = None
        if mem is not None and getattr(mem, "total", 0):
            memory = 100.0 * mem.used / mem.total
        return Reading(
            utilization=None if util is None else float(util.gpu),
            memory=memory,
            temperature=None if temp is None else float(temp),
            power=None if power_mw is None else power_mw / 1000.0,
        )

    def close(self) -> None:
        """Release NVML (it is reference counted, so one close per sampler)."""
        if self._nv is not None:
            _shutdown(self._nv)
            self._nv = None
        self._handle = None
