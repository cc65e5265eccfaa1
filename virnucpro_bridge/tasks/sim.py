"""The ``sim`` task: stands in for inference on simulated GPUs.

A unit takes residues / (rate × speed) seconds, times a per-file factor in
[1 − J, 1 + J] derived from the file's name; each record takes its share of
that time, so the task can stop after any record (it is ``splittable``). The factor models what the
scheduler cannot know (sequence composition, padding waste ...): the
scheduler only ever sees residue counts, never this factor.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import time
from pathlib import Path

from ..hardware.devices import DeviceSpec
from ..inputs.units import Unit, read_unit
from ..runfiles.atomic import atomic_write_text
from .base import Progress, Task, current_end

DEFAULT_RATE = 50_000.0  # residues/s at speed 1.0: a mid-range GPU on short reads
PROGRESS_SLICE_S = 0.2  # sleep in slices so progress and pause feel live


def jitter_factor(name: str, jitter: float, seed: int) -> float:
    """Deterministic factor in [1 − jitter, 1 + jitter] for a file name."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return 1.0 - jitter + 2.0 * jitter * u


class SimTask(Task):
    name = "sim"
    splittable = True

    def setup(self, device: DeviceSpec) -> None:
        super().setup(device)
        self.rate = float(self.options.get("sim_rate", DEFAULT_RATE))
        self.jitter = float(self.options.get("sim_jitter", 0.0))
        self.seed = int(self.options.get("sim_seed", 0))
        # A CPU or CUDA device given the sim task runs at speed 1.
        self.speed = device.speed if device.kind == "sim" else 1.0

    def seconds_per_residue(self, unit: Unit) -> float:
        return jitter_factor(unit.rel, self.jitter, self.seed) / (self.rate * self.speed)

    def duration(self, unit: Unit) -> float:
        return unit.residues * self.seconds_per_residue(unit)

    def run_unit(self, unit: Unit, output: Path, progress: Progress) -> int:
        ids, lengths = [], []
        for record in read_unit(unit):
            ids.append(record.id)
            lengths.append(len(record.sequence))
        per_residue = self.seconds_per_residue(unit)
        finish = list(itertools.accumulate(n * per_residue for n in lengths))  # s at each record's end
        end = current_end(progress(0), len(ids))
        done, t0 = 0, time.monotonic()
        while done < end:
            target = finish[end - 1]
            elapsed = time.monotonic() - t0
            if elapsed < target:
                time.sleep(min(target - elapsed, PROGRESS_SLICE_S))
                elapsed = time.monotonic() - t0
            done = min(end, bisect.bisect_right(finish, elapsed))
            end = current_end(progress(done), len(ids))
        digest = hashlib.sha256()
        for seq_id in ids[:end]:
            digest.update(seq_id.encode())
            digest.update(b"\n")
        result = {
            "file": unit.rel,
            "shard": unit.shard,
            "start": unit.start,
            "sequences": end,
            "ids_sha256": digest.hexdigest(),
        }
        atomic_write_text(output, json.dumps(result, sort_keys=True) + "\n")
        return end
