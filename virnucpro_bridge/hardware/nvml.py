"""NVML for CUDA devices, through nvidia-ml-py's ``pynvml``: which devices
this process's CUDA sees, their readings, and waiting for freed memory.

Everything here degrades to ``None`` / ``[]``: no pynvml, no driver, no GPU, or
a failing call (a GPU fell off the bus) never raises. NVML rather than torch, so
listing devices never creates a CUDA context in the main process.

CUDA and NVML number devices differently: NVML counts every GPU of the node by
PCI bus id, including those a cgroup (Slurm) refuses; CUDA enumerates only those
it can open, and ``CUDA_VISIBLE_DEVICES`` picks among them by position, ``GPU-``
or ``MIG-`` UUID. :func:`resolve` follows CUDA's rules over what NVML opens, and
says when it cannot (a MIG-mode GPU named by index; positions under a
``CUDA_DEVICE_ORDER`` other than PCI_BUS_ID on a node of mixed models). Without
``CUDA_VISIBLE_DEVICES`` every GPU is listed, a MIG-mode GPU as each of its
instances, each bound to a worker by UUID (``binding.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


def pin_device_order() -> None:
    """Make CUDA number devices by PCI bus id, as NVML does (unless the user chose)."""
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")


def init() -> ModuleType | None:
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


def shutdown(nv: ModuleType) -> None:
    try:
        nv.nvmlShutdown()
    except Exception:
        pass


def text(value: Any) -> str:
    # Older pynvml returns bytes, newer returns str.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Target:
    """One CUDA device as NVML reaches it: a whole GPU, or MIG instance ``mig``
    (its position under the GPU) of GPU ``gpu`` (an NVML index)."""

    gpu: int
    uuid: str
    mig: int | None = None


@dataclass
class Resolution:
    targets: list[Target]  # CUDA's devices in CUDA order, as far as NVML can tell
    refused: list[int] = field(default_factory=list)  # NVML indices it may not open (cgroups)
    count: int = 0  # GPUs NVML counts on the node
    unsure: str | None = None  # why NVML cannot say what CUDA sees (then torch decides)


@dataclass
class _Gpu:
    index: int
    handle: Any
    uuid: str
    migs: list[tuple[int, Any, str, tuple[int, int] | None]] | None  # (position, handle, uuid, (gi, ci))


def _migs(nv: ModuleType, handle: Any) -> list[tuple[int, Any, str, tuple[int, int] | None]] | None:
    """The MIG instances of a GPU in MIG mode; None when it is not in MIG mode."""
    try:
        current, _pending = nv.nvmlDeviceGetMigMode(handle)
    except Exception:  # not supported (consumer cards, old drivers): no MIG
        return None
    if current != getattr(nv, "NVML_DEVICE_MIG_ENABLE", 1):
        return None
    found = []
    try:
        slots = nv.nvmlDeviceGetMaxMigDeviceCount(handle)
    except Exception:
        slots = 0
    for j in range(slots):
        try:
            mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)
            uuid = text(nv.nvmlDeviceGetUUID(mig))
        except Exception:  # an empty slot
            continue
        try:
            ids: tuple[int, int] | None = (nv.nvmlDeviceGetGpuInstanceId(mig), nv.nvmlDeviceGetComputeInstanceId(mig))
        except Exception:
            ids = None
        found.append((j, mig, uuid, ids))
    return found


def _gpus(nv: ModuleType) -> tuple[list[_Gpu], list[int], int]:
    count = nv.nvmlDeviceGetCount()
    gpus, refused = [], []
    for i in range(count):
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(i)
            uuid = text(nv.nvmlDeviceGetUUID(handle))
        except Exception:  # NVML_ERROR_NO_PERMISSION: another job's GPU, outside our cgroup
            refused.append(i)
            continue
        gpus.append(_Gpu(i, handle, uuid, _migs(nv, handle)))
    return gpus, refused, count


def _entry(entry: str, gpus: list[_Gpu]) -> tuple[Target | None, str | None]:
    """One ``CUDA_VISIBLE_DEVICES`` entry: (its target, None), (None, None) when it
    names nothing (CUDA stops there), or (None, why) when NVML cannot tell."""
    if entry.lstrip("-").isdigit():
        k = int(entry)
        if not 0 <= k < len(gpus):
            return None, None
        gpu = gpus[k]
        if gpu.migs is not None:
            return None, f"CUDA_VISIBLE_DEVICES entry {entry} is a GPU in MIG mode"
        return Target(gpu.index, gpu.uuid), None
    if entry.startswith("MIG-GPU-"):  # the R450 form: MIG-GPU-<uuid>/<gpu instance>/<compute instance>
        parts = entry[4:].split("/")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return None, None
        ids = (int(parts[1]), int(parts[2]))
        hits = [(g, j, u) for g in gpus if g.uuid.startswith(parts[0])
                for j, _h, u, gi_ci in g.migs or [] if gi_ci == ids]
    elif entry.startswith("MIG-"):
        hits = [(g, j, u) for g in gpus for j, _h, u, _ids in g.migs or [] if u.startswith(entry)]
    elif entry.startswith("GPU-"):
        whole = [g for g in gpus if g.uuid.startswith(entry)]  # CUDA accepts any unique prefix
        if len(whole) != 1:
            return None, None
        if whole[0].migs is not None:
            return None, f"CUDA_VISIBLE_DEVICES entry {entry} is a GPU in MIG mode"
        return Target(whole[0].index, whole[0].uuid), None
    else:
        return None, None
    if len(hits) != 1:
        return None, None
    gpu, j, uuid = hits[0]
    return Target(gpu.index, uuid, mig=j), None


def _every_device(gpus: list[_Gpu]) -> list[Target]:
    """Each whole GPU, and each MIG instance of a GPU in MIG mode, in NVML's order."""
    targets = []
    for g in gpus:
        if g.migs is None:
            targets.append(Target(g.index, g.uuid))
        else:
            targets.extend(Target(g.index, uuid, mig=j) for j, _h, uuid, _ids in g.migs)
    return targets


def _order_unknown(nv: ModuleType, gpus: list[_Gpu], order: str | None) -> str | None:
    """Why CUDA's numbering of these GPUs cannot be told from NVML's, or None."""
    if (order or "PCI_BUS_ID").strip().upper() == "PCI_BUS_ID":
        return None
    names = set()
    for g in gpus:
        try:
            names.add(text(nv.nvmlDeviceGetName(g.handle)))
        except Exception:
            names.add(g.uuid)  # unnamed: count it as a model of its own
    if len(names) <= 1:
        return None  # one model: CUDA breaks its ties by PCI bus id
    return f"CUDA_DEVICE_ORDER={order} on a node of mixed GPU models (CUDA's order is its own)"


def resolve(nv: ModuleType, env: str | None, order: str | None = None) -> Resolution:
    """CUDA's devices under ``CUDA_VISIBLE_DEVICES`` = ``env`` (None: unset) and
    ``CUDA_DEVICE_ORDER`` = ``order``, over the GPUs NVML can open. Raises what
    NVML raises; callers catch it."""
    gpus, refused, count = _gpus(nv)
    unknown = _order_unknown(nv, gpus, order)
    if env is None:
        if unknown is not None:
            return Resolution([], refused, count, unknown)
        return Resolution(_every_device(gpus), refused, count)
    targets: list[Target] = []
    for entry in (e.strip() for e in env.split(",")):
        if unknown is not None and entry.lstrip("-").isdigit():
            return Resolution(targets, refused, count, unknown)
        target, unsure = _entry(entry, gpus)
        if unsure is not None:
            return Resolution(targets, refused, count, unsure)
        if target is None or target in targets:
            break  # CUDA stops at the first entry that names no device
        targets.append(target)
    return Resolution(targets, refused, count)


def open_target(nv: ModuleType, target: Target) -> Any:
    handle = nv.nvmlDeviceGetHandleByIndex(target.gpu)
    if target.mig is not None:
        handle = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, target.mig)
    return handle


def _by_uuid(nv: ModuleType, uuid: str) -> Any:
    """A GPU or MIG instance by UUID (drivers before R470 open MIG UUIDs only by search)."""
    try:
        return nv.nvmlDeviceGetHandleByUUID(uuid)
    except Exception:
        pass
    gpus, _refused, _count = _gpus(nv)
    for gpu in gpus:
        if gpu.uuid == uuid:
            return gpu.handle
        for _j, handle, mig_uuid, _ids in gpu.migs or []:
            if mig_uuid == uuid:
                return handle
    return None


def parent_uuid(uuid: str) -> str | None:
    """The UUID of the GPU that holds MIG instance ``uuid``; None for a whole GPU,
    or when NVML cannot say."""
    if not uuid.startswith("MIG-"):
        return None
    nv = init()
    if nv is None:
        return None
    try:
        gpus, _refused, _count = _gpus(nv)
        return next((g.uuid for g in gpus for _j, _h, u, _ids in g.migs or [] if u == uuid), None)
    except Exception:
        return None
    finally:
        shutdown(nv)


@dataclass(frozen=True)
class Reading:
    utilization: float | None  # percent of time a kernel ran
    memory: float | None  # percent of total memory used
    temperature: float | None  # degrees C
    power: float | None  # watts


NO_READING = Reading(None, None, None, None)


class NvmlSampler:
    """Reads one CUDA device's counters; cheap to call once per poll. The device
    is ``uuid`` when known (what discovery found), else CUDA device ``cuda_index``."""

    def __init__(self, cuda_index: int, uuid: str | None = None) -> None:
        self._nv = init()
        self._handle: Any = None
        if self._nv is None:
            return
        try:
            if uuid:
                self._handle = _by_uuid(self._nv, uuid)
            else:
                found = resolve(self._nv, os.environ.get("CUDA_VISIBLE_DEVICES"),
                                os.environ.get("CUDA_DEVICE_ORDER"))
                if found.unsure is None and 0 <= cuda_index < len(found.targets):
                    self._handle = open_target(self._nv, found.targets[cuda_index])
        except Exception:
            self._handle = None
        if self._handle is None:
            self.close()

    @property
    def available(self) -> bool:
        return self._handle is not None

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._nv, fn)(self._handle, *args)
        except Exception:
            return None

    def memory_bytes(self) -> tuple[int, int] | None:
        """(used, total) bytes now; None when unknown."""
        if self._handle is None:
            return None
        mem = self._call("nvmlDeviceGetMemoryInfo")
        if mem is None or not getattr(mem, "total", 0):
            return None
        return int(mem.used), int(mem.total)

    def energy_mj(self) -> int | None:
        """The GPU's energy counter (millijoules since the driver loaded); None where it has
        none (before Volta, a MIG instance) or the query fails."""
        if self._handle is None:
            return None
        value = self._call("nvmlDeviceGetTotalEnergyConsumption")
        return None if value is None else int(value)

    def read(self) -> Reading:
        """The device's readings now; a field is None when its query fails
        (a MIG instance has no utilization, temperature or power of its own)."""
        if self._handle is None or self._nv is None:
            return NO_READING
        nv = self._nv
        util = self._call("nvmlDeviceGetUtilizationRates")
        mem = self.memory_bytes()
        temp = self._call("nvmlDeviceGetTemperature", getattr(nv, "NVML_TEMPERATURE_GPU", 0))
        power_mw = self._call("nvmlDeviceGetPowerUsage")
        return Reading(
            utilization=None if util is None else float(util.gpu),
            memory=None if mem is None else 100.0 * mem[0] / mem[1],
            temperature=None if temp is None else float(temp),
            power=None if power_mw is None else power_mw / 1000.0,
        )

    def close(self) -> None:
        """Release NVML (it is reference counted, so one close per sampler)."""
        if self._nv is not None:
            shutdown(self._nv)
            self._nv = None
        self._handle = None
