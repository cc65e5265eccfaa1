"""The ``sim`` task: stands in for inference on simulated GPUs.

A unit takes residues / (rate × speed) seconds, times a per-file factor in
[1 − J, 1 + J] derived from the file's name. The factor models what the
scheduler cannot know (sequence composition, padding waste ...): the
scheduler only ever sees residue counts, never this factor.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ..atomic import atomic_write_text
from ..devices import DeviceSpec
from ..units import Unit, read_unit
from .base import Progress, Task

DEFAULT_RATE = 50_000.0  # residues/s at speed 1.0: a mid-range GPU on short reads
PROGRESS_SLICE_S = 0.2  # sleep in slices so progress and pause feel live


def jitter_factor(name: str, jitter: float, seed: int) -> float:
    """Deterministic factor in [1 − jitter, 1 + jitter] for a file name."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return 1.0 - jitter + 2.0 * jitter * u


class SimTask(Task):
    name = "sim"

    def setup(self, device: DeviceSpec) -> None:
        super().setup(device)
        self.rate = float(self.options.get("sim_rate", DEFAULT_RATE))
        self.jitter = float(self.options.get("sim_jitter", 0.0))
        self.seed = int(self.options.get("sim_seed", 0))
        # A CPU or CUDA device given the sim task runs at speed 1.
        self.speed = device.speed if device.kind == "sim" else 1.0

    def duration(self, unit: Unit) -> float:
        factor = jitter_factor(unit.rel, self.jitter, self.seed)
        return unit.residues / (self.rate * self.speed) * factor

    def run_unit(self, unit: Unit, output: Path, progress: Progress) -> int:
        ids = hashlib.sha256()
        sequences = 0
        for record in read_unit(unit):
            ids.update(record.id.encode())
            ids.update(b"\n")
            sequences += 1
        total = self.duration(unit)
        t0 = time.monotonic()
        while (left := total - (time.monotonic() - t0)) > 0:
            time.sleep(min(left, PROGRESS_SLICE_S))
            done = min(1.0, (time.monotonic() - t0) / total)
            progress(int(sequences * done))
        result = {
            "file": unit.rel,
            "shard": unit.shard,
            "sequences": sequences,
            "ids_sha256": ids.hexdigest(),
        }
        atomic_write_text(output, json.dumps(result, sort_keys=True) + "\n")
        return sequences
