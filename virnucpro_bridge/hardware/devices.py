"""Devices: parsing ``--gpus`` and the GPU capability weight table."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..control.snapshot import device_label
from ..errors import UsageError
from .cpus import threads_per_worker
from .discovery import CudaDevice, Discovery, discover, index_ranges, nvidia_driver_present
from .slurm import gpus_allocated


@dataclass(frozen=True)
class DeviceSpec:
    index: int  # position in the device list (the manifest's device_index)
    kind: str  # "cuda", "cpu" or "sim"
    name: str  # model name for CUDA ("NVIDIA A100-SXM4-80GB"), "cpu0", "sim0"
    weight: float  # relative capability; sim devices use their speed
    ordinal: int | None = None  # CUDA device index (kind == "cuda")
    speed: float = 1.0  # relative speed of a simulated device
    threads: int | None = None  # torch intra-op threads (CPU and CUDA workers): cpus.threads_per_worker
    known: bool = True  # False when the weight is the 1.0 default for an unknown model
    memory_total: int | None = None  # bytes (CUDA), as discovery found it
    uuid: str | None = None  # "GPU-..." / "MIG-..." (CUDA): the device a worker's NVML sampler opens
    source: str = ""  # who listed it: "nvml" or "torch" (CUDA); "" for cpu and sim

    @property
    def torch_device(self) -> str:
        return f"cuda:{self.ordinal}" if self.kind == "cuda" else "cpu"

    @property
    def label(self) -> str:
        """Short name for logs: GPU0, CPU1, SIM2 (by list position)."""
        return device_label(self.kind, self.index)


# Relative inference speed of each GPU model on VirNucPro's ESM/DNABERT-style
# transformer inference (fp16, memory-bandwidth and tensor-core bound), with
# the RTX 3090 as 1.0. Patterns are space-separated tokens matched as a run of
# whole tokens of the upper-cased name ("NVIDIA A100-SXM4-80GB" -> NVIDIA A100
# SXM4 80GB), so A10 never matches A100 and L40 never matches L40S. The first
# match wins: keep the more specific pattern above the shorter one.
GPU_WEIGHTS: tuple[tuple[str, float], ...] = (
    # Datacenter, Blackwell and Hopper
    ("GB200", 4.80),  # B200 die at a higher power limit in the Grace superchip
    ("B200", 4.50),  # ~1.8x H100 dense fp16, 8 TB/s HBM3e
    ("B100", 3.80),  # B200 silicon at 700 W
    ("GH200", 3.00),  # H100/H200 die at up to 900 W with up to 4.9 TB/s
    ("H200", 2.90),  # H100 compute with 4.8 TB/s HBM3e (vs 3.35): bandwidth-bound parts gain
    ("H100 PCIE", 2.00),  # 350 W and HBM2e 2 TB/s: well below the SXM part
    ("H100 NVL", 2.30),  # PCIe card with 3.9 TB/s HBM3, 400 W
    ("H100", 2.50),  # SXM / HBM3; an anchor of the weight table
    ("H800 PCIE", 2.00),  # export variant of the H100 PCIe, same compute
    ("H800", 2.50),  # export H100 SXM: only NVLink is cut, single-GPU speed is the same
    ("H20", 1.00),  # export Hopper with ~15% of H100 compute but 4 TB/s
    # Datacenter, Ampere / Ada / Volta / Turing / Pascal
    ("A100", 1.20),  # an anchor of the weight table (40/80 GB, SXM and PCIe alike)
    ("A800", 1.20),  # export A100: NVLink cut, same compute
    ("A40", 1.00),  # full GA102 at 300 W with slower GDDR6 than a 3090
    ("A30", 0.75),  # about half an A100's SMs, 933 GB/s HBM2
    ("A10G", 0.70),  # AWS GA102 variant, 600 GB/s, 300 W budget shared with clocks
    ("A10", 0.72),  # GA102 with 72 SMs at 150 W
    ("A16", 0.20),  # four small GA107s on one board; each device is one of them
    ("A2", 0.18),  # 60 W inference card
    ("L40S", 1.45),  # AD102 with the full-rate fp16 tensor path, ~4090 class
    ("L40", 1.30),  # AD102 at 300 W, half-rate fp16 accumulate
    ("L4", 0.55),  # 72 W Ada, 300 GB/s: about twice a T4
    ("V100S", 0.82),  # V100 with 1.1 TB/s and higher clocks
    ("V100", 0.78),  # 0.75-0.80 of an RTX 3090: the midpoint
    ("T4", 0.25),  # 70 W Turing, 320 GB/s
    ("P100", 0.40),  # no tensor cores, but fast fp16 and 732 GB/s HBM2
    ("P40", 0.30),  # no fast fp16 path at all
    # Workstation
    ("RTX PRO 6000", 2.10),  # Blackwell GB202, 96 GB, ~5090 class
    ("RTX 6000 ADA", 1.40),  # AD102, 142 SMs at 300 W
    ("RTX 5000 ADA", 1.10),  # AD102 cut to 100 SMs
    ("RTX A6000", 1.10),  # an anchor of the weight table
    ("RTX A5500", 0.95),  # GA102 with 80 SMs
    ("RTX A5000", 0.85),  # GA102 with 64 SMs at 230 W
    ("RTX A4500", 0.72),  # GA102 with 56 SMs
    ("RTX A4000", 0.60),  # GA104 at 140 W
    ("QUADRO RTX 8000", 0.72),  # Turing TU102, like a 2080 Ti with more memory
    ("QUADRO RTX 6000", 0.72),  # same die as the RTX 8000
    ("TITAN RTX", 0.72),  # full TU102
    ("TITAN V", 0.75),  # GV100, close to a V100 PCIe
    # GeForce: laptop parts run far below the desktop card of the same number
    ("LAPTOP", 0.50),  # any "... Laptop GPU": power-limited, model-dependent; a cautious middle
    ("RTX 5090", 2.00),  # ~1.3x a 4090 in inference, 1.8 TB/s GDDR7
    ("RTX 5080", 1.55),  # ~4080 SUPER plus 10%, faster GDDR7
    ("RTX 5070 TI", 1.30),  # GB203 cut down, 896 GB/s
    ("RTX 5070", 1.05),  # GB205, about a 4070 Ti
    ("RTX 4090", 1.50),  # an anchor of the weight table
    ("RTX 4080 SUPER", 1.40),  # full AD103, slightly above the 4080
    ("RTX 4080", 1.35),  # an anchor of the weight table
    ("RTX 4070 TI SUPER", 1.15),  # AD103 cut down, 672 GB/s
    ("RTX 4070 TI", 1.05),  # AD104 full, 504 GB/s
    ("RTX 4070 SUPER", 0.95),  # AD104 with 56 SMs
    ("RTX 4070", 0.85),  # AD104 with 46 SMs
    ("RTX 4060 TI", 0.60),  # AD106, 288 GB/s
    ("RTX 4060", 0.48),  # AD107, small bus
    ("RTX 3090 TI", 1.08),  # full GA102 at higher clocks
    ("RTX 3090", 1.00),  # the reference
    ("RTX 3080 TI", 0.97),  # nearly a 3090 with half the memory
    ("RTX 3080", 0.90),  # an anchor of the weight table
    ("RTX 3070 TI", 0.68),  # full GA104 with GDDR6X
    ("RTX 3070", 0.62),  # GA104, 46 SMs vs the 3080's 68
    ("RTX 3060 TI", 0.55),  # GA104 with 38 SMs
    ("RTX 3060", 0.42),  # GA106, 360 GB/s
    ("RTX 2080 TI", 0.70),  # Turing TU102, 616 GB/s
    ("RTX 2080 SUPER", 0.58),  # full TU104
    ("RTX 2080", 0.55),  # TU104
    ("RTX 2070", 0.45),  # TU106/TU104
    ("GTX 1080 TI", 0.35),  # Pascal, no tensor cores, slow fp16
)

_TOKEN = re.compile(r"[A-Z0-9]+")
_INDEX = re.compile(r"\s*-?[0-9]+\s*")
_PATTERNS = tuple((tuple(p.split()), w) for p, w in GPU_WEIGHTS)
AUTO_CPU_WORKERS = 2  # `--gpus auto` without CUDA: two workers keep stealing meaningful
SPEC_HELP = "use 0,1,..., all, auto, cpu:N or sim:S1,S2,..."


def _contains(tokens: Sequence[str], pattern: tuple[str, ...]) -> bool:
    n = len(pattern)
    return any(tuple(tokens[i : i + n]) == pattern for i in range(len(tokens) - n + 1))


def capability_weight(name: str) -> tuple[float, bool]:
    """(weight, known) for a CUDA model name; unknown models get (1.0, False)."""
    tokens = _TOKEN.findall(name.upper())
    for pattern, weight in _PATTERNS:
        if _contains(tokens, pattern):
            return weight, True
    return 1.0, False


def select_gpus(spec: str, found: Discovery | Sequence[tuple[int, str]] | None = None
                ) -> tuple[list[DeviceSpec], Discovery | None]:
    """``--gpus SPEC`` as a device list, and the CUDA discovery it used (None for
    cpu:N and sim:..., which look for no GPU). UsageError for anything wrong."""
    text = spec.strip()
    key = text.lower()
    if not text:
        raise UsageError(f"--gpus: empty value; {SPEC_HELP}")
    if key.startswith("cpu:"):
        return _cpu_devices(spec, text[4:]), None
    if key.startswith("sim:"):
        return _sim_devices(spec, text[4:]), None
    if key not in ("auto", "all") and not all(_INDEX.fullmatch(p) for p in text.split(",")):
        raise UsageError(f"--gpus {spec}: not a device list; {SPEC_HELP}")
    if key not in ("auto", "all"):
        listed = [int(p) for p in text.split(",")]
        twice = sorted({i for i in listed if listed.count(i) > 1})
        if twice:  # a mistake in the list itself, whatever this machine has
            raise UsageError(f"--gpus {spec}: device {twice[0]} is listed twice")
    if found is None:
        found = discover()
    elif not isinstance(found, Discovery):  # (index, name) pairs: tests, callers that know
        found = Discovery(tuple(CudaDevice(i, n) for i, n in found), "")
    if key == "auto" and not found.devices:
        if (allocated := gpus_allocated()) is not None:  # a GPU job must not crawl on CPU unnoticed
            raise UsageError(f"--gpus {spec}: GPUs are allocated here ({allocated}) but no CUDA device is "
                             f"usable: {_why_no_cuda()}; fix that, or run on CPU with --gpus cpu:N")
        return _cpu_devices(spec, str(AUTO_CPU_WORKERS)), found
    if not found.devices:
        raise UsageError(f"--gpus {spec}: this machine has no CUDA devices; use cpu:N or sim:S1,S2,...")
    by_index = {d.index: d for d in found.devices}
    if key in ("auto", "all"):
        wanted = [d.index for d in found.devices]
    else:
        wanted = [int(p) for p in text.split(",")]
        for i in wanted:
            if i < 0 or i not in by_index:
                raise UsageError(f"--gpus {spec}: no CUDA device {i} (found {index_ranges(list(by_index))})")
    devices = []
    threads = threads_per_worker(len(wanted))
    for pos, i in enumerate(wanted):
        d = by_index[i]
        weight, known = capability_weight(d.name)
        devices.append(DeviceSpec(pos, "cuda", d.name, weight, ordinal=i, known=known, threads=threads,
                                  memory_total=d.memory_total, uuid=d.uuid, source=found.source))
    return devices, found


def _why_no_cuda() -> str:
    if not nvidia_driver_present():
        return "this node has no NVIDIA driver"
    return "the NVIDIA driver is there, but neither NVML nor torch opens a device (a CPU-only torch?)"


def parse_gpus(spec: str, cuda_devices: Discovery | Sequence[tuple[int, str]] | None = None) -> list[DeviceSpec]:
    """Turn ``--gpus SPEC`` into the device list; UsageError for anything wrong."""
    return select_gpus(spec, cuda_devices)[0]


def _cpu_devices(spec: str, count: str) -> list[DeviceSpec]:
    try:
        n = int(count)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"--gpus {spec}: cpu:N needs a whole number of workers, at least 1")
    threads = threads_per_worker(n)
    return [DeviceSpec(i, "cpu", f"cpu{i}", 1.0, threads=threads) for i in range(n)]


def _sim_devices(spec: str, speeds: str) -> list[DeviceSpec]:
    values = []
    for part in speeds.split(","):
        try:
            s = float(part)
        except ValueError:
            s = float("nan")
        if not (math.isfinite(s) and s > 0):
            raise UsageError(f"--gpus {spec}: sim speeds must be numbers > 0, got {part.strip()!r}")
        values.append(s)
    return [DeviceSpec(i, "sim", f"sim{i}", s, speed=s) for i, s in enumerate(values)]


def unknown_weight_warnings(devices: Sequence[DeviceSpec]) -> list[str]:
    """One line per CUDA device whose model is not in GPU_WEIGHTS."""
    return [
        f"{d.label} '{d.name}': unknown model, capability weight 1.0"
        for d in devices
        if d.kind == "cuda" and not d.known
    ]
