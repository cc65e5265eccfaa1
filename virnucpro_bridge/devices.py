"""Devices: parsing ``--gpus`` and the GPU capability weight table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceSpec:
    index: int  # position in the device list (the manifest's device_index)
    kind: str  # "cuda", "cpu" or "sim"
    name: str  # model name for CUDA ("NVIDIA A100-SXM4-80GB"), "cpu0", "sim0"
    weight: float  # relative capability; sim devices use their speed
    ordinal: int | None = None  # CUDA device index (kind == "cuda")
    speed: float = 1.0  # relative speed of a simulated device
    threads: int | None = None  # torch intra-op threads for a CPU worker
    known: bool = True  # False when the weight is the 1.0 default for an unknown model

    @property
    def torch_device(self) -> str:
        return f"cuda:{self.ordinal}" if self.kind == "cuda" else "cpu"

    @property
    def label(self) -> str:
        """Short name for logs: GPU0, CPU1, SIM2 (by list position)."""
        prefix = {"cuda": "GPU", "cpu": "CPU", "sim": "SIM"}.get(self.kind, "DEV")
        return f"{prefix}{self.index}"
