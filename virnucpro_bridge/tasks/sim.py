"""The ``sim`` task: stands in for inference on simulated GPUs.

A unit takes residues / (rate × speed) seconds, times a per-file factor in
[1 − J, 1 + J] derived from the file's name. Like VirNucPro, it cuts records
into parts of ``SIM_PART`` residues (its "chunks"): each part takes its share
of the time and progress is reported after each, so the engine can cut a
unit at any record or part (it is ``splittable``) and the scheduling
benchmarks cover cuts inside long records. The factor models what the
scheduler cannot know (sequence composition, padding waste ...): the
scheduler only ever sees residue counts, never this factor.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import time
from pathlib import Path

from ..hardware.devices import DeviceSpec
from ..inputs.units import Unit, read_unit
from ..inputs.work import records_started
from ..runfiles.atomic import atomic_write_text
from .base import Progress, Task, current_stop, part_range

DEFAULT_RATE = Task.nominal_rate  # residues/s at speed 1.0 (--sim-rate), the engine's default prior
PROGRESS_SLICE_S = 0.05  # sleep in slices: progress feels live and a Cut is read within one
SIM_PART = 500  # residues per part, as VirNucPro's default chunk length


def jitter_factor(name: str, jitter: float, seed: int) -> float:
    """Deterministic factor in [1 − jitter, 1 + jitter] for a file name."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return 1.0 - jitter + 2.0 * jitter * u


class SimTask(Task):
    name = "sim"
    splittable = True
    # Measured with benchmarks/bench_sched.py (overhead): a zero-cost unit costs its
    # worker ~1 ms (read, result file, pipe); the engine adds its own measured hand-off.
    unit_overhead_s = 0.002

    def parts(self, length: int) -> int:
        return max(1, -(-length // SIM_PART))

    def rate_prior(self) -> float:
        return float(self.options.get("sim_rate", DEFAULT_RATE))

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
        per_residue = self.seconds_per_residue(unit)
        ids: list[tuple[str, int, int, int]] = []  # (id, first part, last part, parts)
        positions: list[tuple[int, int]] = []  # after each step (a part), relative to unit.start
        finish: list[float] = []  # seconds at each step's end
        elapsed_total = 0.0
        for r, record in enumerate(read_unit(unit)):
            n = len(record.sequence)
            k = self.parts(n)
            first, last = part_range(unit, r, k)
            ids.append((record.id, first, last, k))
            for j in range(first, last):
                elapsed_total += (min(n, (j + 1) * SIM_PART) - j * SIM_PART) * per_residue
                positions.append((r, j + 1) if j + 1 < k else (r + 1, 0))
                finish.append(elapsed_total)
        begin = (0, unit.part)
        stop = current_stop(progress(begin), unit)
        done, t0 = 0, time.monotonic()
        target = bisect.bisect_right(positions, stop)  # steps up to the stop
        while done < target:
            elapsed = time.monotonic() - t0
            if elapsed < finish[target - 1]:
                with self.phases.phase("gpu"):  # the simulated inference
                    time.sleep(min(finish[target - 1] - elapsed, PROGRESS_SLICE_S))
                elapsed = time.monotonic() - t0
            done = min(target, bisect.bisect_right(finish, elapsed))
            stop = current_stop(progress(positions[done - 1] if done else begin), unit)
            target = min(target, bisect.bisect_right(positions, stop))
        digest = hashlib.sha256()
        for r, (seq_id, first, last, k) in enumerate(ids):
            if r > stop[0] or (r == stop[0] and not stop[1]):
                break  # the rest was cut off for another device
            if r == stop[0]:
                last = min(last, stop[1])
            digest.update((seq_id if (first, last) == (0, k) else f"{seq_id}:{first}-{last}").encode())
            digest.update(b"\n")
        sequences = records_started(begin, stop)
        result = {"file": unit.rel, "shard": unit.shard, "start": unit.start, "part": unit.part,
                  "stop": list(stop), "sequences": sequences, "ids_sha256": digest.hexdigest()}
        with self.phases.phase("write"):
            atomic_write_text(output, json.dumps(result, sort_keys=True) + "\n")
        return sequences
