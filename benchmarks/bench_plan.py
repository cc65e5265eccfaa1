"""Planning many small files: plan_units' time and peak Python memory (prints numbers, asserts nothing).

50,000 FASTA files of 2 records (150-900 bp), planned for 4 devices (factoring: every file
is a segment) and for --no-split. Each row: seconds (best of 3, untraced), the peak of
Python allocations while planning and what the plan keeps (tracemalloc, one traced run).
``compact`` is plan._Left as shipped (file numbers, array('d') costs, freed before cutting);
``plain`` swaps in a tuple per segment and a list of floats, kept to the end.

Usage: python benchmarks/bench_plan.py [FILES]
"""

from __future__ import annotations

import hashlib
import random
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.plain_plan import PlainLeft  # noqa: E402
from virnucpro_bridge.inputs import plan as plan_module  # noqa: E402


def make_files(folder: Path, count: int) -> list[tuple[str, str]]:
    rng = random.Random(7)
    files = []
    for i in range(count):
        path = folder / f"f{i:05d}.fa"
        path.write_text("".join(f">r{j}\n{'ACGT' * (rng.randint(150, 900) // 4)}\n" for j in range(2)))
        files.append((str(path), path.name))
    return files


def measure(files: list[tuple[str, str]], devices: int) -> tuple[float, float, float, str]:
    def plan():  # type: ignore[no-untyped-def]
        return plan_module.plan_units(files, devices=devices, floor=100.0)

    best = min(_timed(plan) for _ in range(3))
    tracemalloc.start()
    result = plan()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    digest = hashlib.sha256(repr([replace(u, path="") for u in result.units]).encode()).hexdigest()[:12]
    return best, peak / 2**20, kept / 2**20, f"{len(result.units)} units, {digest}"


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 50_000
    compact = getattr(plan_module, "_Left", None)  # None: a planner from before the helper
    kinds = (("compact", compact), ("plain", PlainLeft)) if compact else (("as is", None),)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), count)
        print(f"{count:,} files of 2 records; seconds best of 3; MiB by tracemalloc")
        print(f"{'devices':>8} {'bookkeeping':>12} {'seconds':>8} {'peak MiB':>9} {'kept MiB':>9}  plan")
        for devices in (4, 0):
            for name, left in kinds:
                if left is not None:
                    plan_module._Left = left  # type: ignore[misc]
                seconds, peak, kept, what = measure(files, devices)
                print(f"{devices:>8} {name:>12} {seconds:8.2f} {peak:9.1f} {kept:9.1f}  {what}", flush=True)
        if compact is not None:
            plan_module._Left = compact  # type: ignore[misc]


if __name__ == "__main__":
    main(sys.argv[1:])
