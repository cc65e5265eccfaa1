"""A stand-in for nvidia-ml-py's ``pynvml``: a node of GPUs described in JSON.

Put this folder first on ``PYTHONPATH`` and name a JSON file in
``LBTUI_FAKE_NVML``, and every process (the main one and spawned workers)
sees the same node::

    {"gpus": [{"name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-aaaa...", "total": 85899345920,
               "used": 1073741824, "refused": false,
               "mig": [{"uuid": "MIG-...", "name": "... MIG 1g.10gb", "total": ..., "gi": 1, "ci": 0}]}],
     "holds": "/tmp/holds"}

``refused``: handles to that GPU raise NO_PERMISSION, as NVML does for a GPU
outside the job's cgroup. A file ``<holds>/<uuid>`` holding an epoch time
adds half the device's memory to its used memory until then: memory a
killed worker's CUDA context still holds. In-process tests call
:func:`configure` instead of setting the variable. Only the calls lbtui makes
are here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0
NVML_DEVICE_MIG_ENABLE = 1
ENV = "LBTUI_FAKE_NVML"

_config: dict | None = None
calls = {"init": 0, "shutdown": 0}


class NVMLError(Exception):
    pass


def configure(config: dict | None) -> None:
    global _config
    _config = config
    calls.update(init=0, shutdown=0)


def _node() -> dict:
    if _config is not None:
        return _config
    path = os.environ.get(ENV)
    if not path:
        raise NVMLError("Driver Not Loaded")
    return json.loads(Path(path).read_text())


def _gpu(handle) -> dict:
    gpu = _node()["gpus"][handle[1]]
    return gpu if handle[0] == "gpu" else gpu["mig"][handle[2]]


def nvmlInit() -> None:
    _node()
    calls["init"] += 1


def nvmlShutdown() -> None:
    calls["shutdown"] += 1


def nvmlDeviceGetCount() -> int:
    return len(_node()["gpus"])


def nvmlDeviceGetHandleByIndex(i: int):
    gpus = _node()["gpus"]
    if not 0 <= i < len(gpus):
        raise NVMLError("Invalid Argument")
    if gpus[i].get("refused"):
        raise NVMLError("Insufficient Permissions")
    return ("gpu", i)


def nvmlDeviceGetHandleByUUID(uuid):
    uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
    for i, gpu in enumerate(_node()["gpus"]):
        if gpu["uuid"] == uuid and not gpu.get("refused"):
            return ("gpu", i)
    raise NVMLError("Not Found")  # MIG UUIDs only by search, like drivers before R470


def nvmlDeviceGetUUID(handle) -> str:
    return _gpu(handle)["uuid"]


def nvmlDeviceGetName(handle) -> bytes:
    return _gpu(handle)["name"].encode()  # old pynvml returns bytes


def nvmlDeviceGetMemoryInfo(handle):
    dev = _gpu(handle)
    used = dev.get("used", 0)
    holds = _node().get("holds")
    if holds:
        try:
            until = float((Path(holds) / dev["uuid"]).read_text())
        except (OSError, ValueError):
            until = 0.0
        if time.time() < until:
            used += dev["total"] // 2
    return SimpleNamespace(used=used, total=dev["total"], free=dev["total"] - used)


def nvmlDeviceGetUtilizationRates(handle):
    if handle[0] == "mig":
        raise NVMLError("Not Supported")
    return SimpleNamespace(gpu=37 + handle[1], memory=5)


def nvmlDeviceGetTemperature(handle, sensor: int) -> int:
    return 61


def nvmlDeviceGetPowerUsage(handle) -> int:
    return 215_500  # milliwatts


def nvmlDeviceGetMigMode(handle):
    if handle[0] != "gpu":
        raise NVMLError("Not Supported")
    mig = "mig" in _node()["gpus"][handle[1]]
    return (NVML_DEVICE_MIG_ENABLE if mig else 0, NVML_DEVICE_MIG_ENABLE if mig else 0)


def nvmlDeviceGetMaxMigDeviceCount(handle) -> int:
    return 7


def nvmlDeviceGetMigDeviceHandleByIndex(handle, j: int):
    migs = _node()["gpus"][handle[1]].get("mig", [])
    if not 0 <= j < len(migs):
        raise NVMLError("Not Found")
    return ("mig", handle[1], j)


def nvmlDeviceGetGpuInstanceId(handle) -> int:
    return _gpu(handle)["gi"]


def nvmlDeviceGetComputeInstanceId(handle) -> int:
    return _gpu(handle)["ci"]
