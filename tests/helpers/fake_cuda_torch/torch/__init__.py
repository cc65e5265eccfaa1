"""A stand-in for a CUDA build of torch on the fake NVML node (``LBTUI_FAKE_NVML``),
as far as device listing, binding and thread counts go.

It enumerates the node's GPUs as CUDA does: in PCI order (the node's list), or
under ``CUDA_DEVICE_ORDER=FASTEST_FIRST`` fastest first (the node's ``fast``
field, larger first; ties in PCI order); ``CUDA_VISIBLE_DEVICES`` then picks by
position or UUID, and a MIG instance only by its UUID (and one per process,
as CUDA shows). ``LBTUI_FAKE_TORCH_UUID`` makes ``cuda:0`` report that UUID
instead: a worker that landed on the wrong device.
"""

import json
import os
from pathlib import Path
from types import SimpleNamespace

__version__ = "2.13.0+cu130"
version = SimpleNamespace(cuda="13.0")
_threads = [os.cpu_count() or 1]


def _visible() -> list[dict]:
    node = json.loads(Path(os.environ["LBTUI_FAKE_NVML"]).read_text())
    gpus = [g for g in node["gpus"] if not g.get("refused") and "mig" not in g]
    if os.environ.get("CUDA_DEVICE_ORDER") == "FASTEST_FIRST":
        gpus = sorted(gpus, key=lambda g: -g.get("fast", 0))
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return gpus
    instances = [m for g in node["gpus"] for m in g.get("mig", [])]
    picked: list[dict] = []
    for entry in (e.strip() for e in env.split(",")):
        if entry.isdigit() and int(entry) < len(gpus):
            hit = [gpus[int(entry)]]
        else:
            hit = [d for d in gpus + instances if entry and d["uuid"].startswith(entry)]
        if len(hit) != 1 or hit[0] in picked or (picked and "gi" in hit[0]):
            break
        picked.append(hit[0])
    return picked


def _props(i: int) -> SimpleNamespace:
    dev = _visible()[i]
    uuid = os.environ.get("LBTUI_FAKE_TORCH_UUID") or dev["uuid"][4:]  # torch prints it bare
    return SimpleNamespace(name=dev["name"], total_memory=dev["total"], uuid=uuid)


def set_num_threads(n: int) -> None:
    _threads[0] = int(n)


def get_num_threads() -> int:
    return _threads[0]


cuda = SimpleNamespace(
    is_available=lambda: bool(_visible()),
    is_initialized=lambda: False,
    device_count=lambda: len(_visible()),
    get_device_properties=_props,
)
