"""Which CUDA devices this process has, and who said so (NVML or torch).

NVML first (no CUDA context in the main process, see ``nvml.py``). torch's
own list (names, memory) is the fallback:

- NVML is missing (no driver library, no pynvml) or fails;
- NVML cannot tell what CUDA sees (a GPU in MIG mode named by index;
  ``CUDA_DEVICE_ORDER=FASTEST_FIRST`` over mixed GPU models);
- NVML had to guess (it refused some of the node's GPUs: a Slurm job or
  another cgroup) and torch counts a different number of devices.

torch is imported only then: it takes a second or two, and its device count
initialises the CUDA driver in this process (harmless: workers are spawned,
never forked). The source is recorded on each device (``DeviceSpec.source``)
and shown by the dashboard.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from . import nvml

SOURCE_NVML = "nvml"
SOURCE_TORCH = "torch"


@dataclass(frozen=True)
class CudaDevice:
    index: int  # CUDA ordinal in this process
    name: str  # "NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-40GB MIG 1g.5gb"
    memory_total: int | None = None  # bytes
    uuid: str | None = None  # "GPU-..." or "MIG-...": what a worker's NVML sampler opens


@dataclass(frozen=True)
class Discovery:
    devices: tuple[CudaDevice, ...]
    source: str  # SOURCE_NVML, SOURCE_TORCH, or "" when there is none
    notes: tuple[str, ...] = ()  # worth a line in the event log (e.g. GPUs NVML refused)
    warnings: tuple[str, ...] = ()  # worth a warning on stderr (NVML and CUDA disagree)


def index_ranges(indices: Sequence[int]) -> str:
    """Device indices as compact ranges: "0-3", "0", "0,2-3"."""
    parts: list[list[int]] = []
    for i in sorted(indices):
        if parts and parts[-1][1] == i - 1:
            parts[-1][1] = i
        else:
            parts.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


NVIDIA_DEVICE_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/dxg")  # Linux driver; WSL2


def nvidia_driver_present() -> bool:
    """Some sign of an NVIDIA driver, without NVML: only then is torch worth
    importing to look (a CPU machine must not pay torch's import for nothing)."""
    return any(os.path.exists(path) for path in NVIDIA_DEVICE_FILES)


def torch_devices() -> list[CudaDevice]:
    """torch's CUDA devices (may initialise CUDA); [] when torch is missing or fails."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return []
    try:
        import torch

        found = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            uuid = getattr(props, "uuid", None)
            uuid = None if uuid is None else str(uuid)
            if uuid and not uuid.startswith(("GPU-", "MIG-")):  # torch prints the bare UUID; NVML prefixes it
                uuid = f"{'MIG' if ' MIG ' in f' {props.name} ' else 'GPU'}-{uuid}"
            found.append(CudaDevice(i, str(props.name), int(props.total_memory), uuid))
        return found
    except Exception:
        return []


def _from_nvml() -> tuple[list[CudaDevice] | None, nvml.Resolution | None, str | None]:
    """(devices, resolution, problem): devices None when NVML is missing or failed."""
    nv = nvml.init()
    if nv is None:
        return None, None, "NVML is not available (no NVIDIA driver library, or no pynvml)"
    try:
        found = nvml.resolve(nv, os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("CUDA_DEVICE_ORDER"))
        devices = []
        for k, target in enumerate(found.targets):
            handle = nvml.open_target(nv, target)
            total = None
            try:
                total = int(nv.nvmlDeviceGetMemoryInfo(handle).total)
            except Exception:
                pass
            devices.append(CudaDevice(k, nvml.text(nv.nvmlDeviceGetName(handle)), total, target.uuid))
        return devices, found, None
    except Exception as exc:  # a GPU fell off the bus, a driver/library mismatch
        return None, None, f"NVML failed ({type(exc).__name__}: {exc})"
    finally:
        nvml.shutdown(nv)


def discover() -> Discovery:
    """This process's CUDA devices, from NVML or else from torch."""
    devices, found, problem = _from_nvml()
    notes: list[str] = []
    if found is not None and found.refused and devices:
        notes.append(f"NVML may not open GPU {index_ranges(found.refused)} of the node's {found.count} "
                     f"(another job's, or outside this cgroup): CUDA_VISIBLE_DEVICES counts "
                     f"the {found.count - len(found.refused)} it can open")
    doubt = problem or (found.unsure if found is not None else None)
    if doubt is None and not (found is not None and found.refused):
        return Discovery(tuple(devices or ()), SOURCE_NVML if devices else "", tuple(notes))
    if problem is not None and not nvidia_driver_present():
        return Discovery((), "", tuple(notes))  # no NVML and no driver: a machine without GPUs
    listed = torch_devices()
    if doubt is not None:  # NVML cannot say: torch's list, whatever it holds
        if not listed:
            return Discovery(tuple(devices or ()), SOURCE_NVML if devices else "", tuple(notes))
        return Discovery(tuple(listed), SOURCE_TORCH, tuple(notes),
                         (f"{doubt}: devices listed by torch (names, memory) instead",))
    mig = any(d.uuid and d.uuid.startswith("MIG-") for d in devices or ())  # CUDA counts one MIG per process
    if listed and len(listed) != len(devices or ()) and not mig:
        return Discovery(tuple(listed), SOURCE_TORCH, tuple(notes),
                         (f"NVML finds {len(devices or ())} CUDA device(s) here and torch {len(listed)}: "
                          "using torch's list",))
    return Discovery(tuple(devices or ()), SOURCE_NVML if devices else "", tuple(notes))


def cuda_devices() -> list[tuple[int, str]]:
    """CUDA devices visible to this process as ``(cuda index, model name)``."""
    return [(d.index, d.name) for d in discover().devices]
