"""Scheduling benchmarks on simulated GPUs (prints numbers, asserts nothing).

1. Makespan / lower bound on 8 heterogeneous simulated GPUs, for the default
   (weighted + stealing), --no-steal, and --no-steal --no-weighted.
2. Scheduling overhead: zero-cost units through 8 simulated devices, three runs
   (units/s; the same with the workers' start-up taken out; the CPU per unit of
   the main process and of the workers).
3. Main-process memory: peak RSS over 50,000 units vs over 1,000 units, per unit
   (target: at most 1 KB per unit).

Usage: python benchmarks/bench_sched.py [makespan|overhead|memory ...]
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEEDS = (2.5, 1.5, 1.5, 1.0, 1.0, 1.0, 0.9, 0.75)
RATE = 50_000.0  # --sim-rate: residues/s at speed 1
IDEAL_S = 20.0  # scale the file sizes so Σcost / Σspeed is about this
SEQ_LEN = 1_000  # residues per sequence in generated files
LBTUI = [sys.executable, "-m", "lbtui.cli"]


def write_files(folder: Path, residues: list[int], seq_len: int = SEQ_LEN) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, total in enumerate(residues):
        lines = []
        left, j = max(1, total), 0
        while left > 0:
            n = min(seq_len, left)
            lines.append(f">f{i}_s{j}\n{'ACGT' * (n // 4)}{'A' * (n % 4)}\n")
            left -= n
            j += 1
        (folder / f"file_{i:05d}.fa").write_text("".join(lines))


def run(inputs: Path, out: Path, speeds, *extra: str) -> dict:
    gpus = "sim:" + ",".join(str(s) for s in speeds)
    cmd = LBTUI + ["run", "--headless", "--refresh", "60", "--gpus", gpus, "--out", str(out),
                   "--sim-rate", str(RATE), *extra, str(inputs)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"lbtui exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    summary = json.loads((out / "summary.json").read_text())
    summary["wall_s"] = wall
    summary["manifest"] = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return summary


def lower_bound(summary: dict, speeds) -> float:
    """LB = max(Σcost/Σspeed, max cost/max speed), cost = measured s × device speed."""
    costs = [e["seconds"] * speeds[e["device_index"]] for e in summary["manifest"]]
    return max(sum(costs) / sum(speeds), max(costs) / max(speeds))


def bench_makespan(tmp: Path) -> None:
    rng = random.Random(7)
    draws = [rng.lognormvariate(0.0, 0.8) for _ in range(240)]
    scale = IDEAL_S * sum(SPEEDS) * RATE / sum(draws)
    inputs = tmp / "makespan"
    write_files(inputs, [int(d * scale) for d in draws])
    print(f"makespan: 240 files, lognormal(0, 0.8), jitter 0.3, speeds {','.join(map(str, SPEEDS))}, "
          f"ideal ≈ {IDEAL_S:.0f} s")
    for label, extra in (("default (weighted + stealing)", ()), ("--no-steal", ("--no-steal",)),
                         ("--no-steal --no-weighted", ("--no-steal", "--no-weighted"))):
        s = run(inputs, tmp / f"out-{len(extra)}", SPEEDS, "--sim-jitter", "0.3", *extra)
        lb = lower_bound(s, SPEEDS)
        print(f"  {label:<32} makespan {s['makespan_s']:7.2f} s  LB {lb:6.2f} s  "
              f"ratio {s['makespan_s'] / lb:5.3f}  steals {s['steals']}")


def bench_overhead(tmp: Path, units: int = 5_000, base: int = 1_000, rounds: int = 3) -> None:
    """Zero-cost units: the rate, over ``rounds`` runs (this machine's speed moves a lot
    from run to run), and the CPU per unit once start-up is taken out."""
    small = tmp / f"overhead-{base}"
    write_files(small, [100] * base, seq_len=100)
    first = run(small, tmp / f"out-overhead-{base}", (1.0,) * 8, "--sim-rate", "1e15")
    inputs = tmp / f"overhead-{units}"
    write_files(inputs, [100] * units, seq_len=100)
    runs = [run(inputs, tmp / f"out-overhead-{units}-{k}", (1.0,) * 8, "--sim-rate", "1e15")
            for k in range(rounds)]
    rates = sorted(units / s["makespan_s"] if s["makespan_s"] else math.inf for s in runs)
    print(f"overhead: {units} zero-cost units on 8 simulated devices, {rounds} runs: "
          f"{', '.join(f'{r:,.0f}' for r in rates)} units/s (first dispatch to last completion; "
          f"median {rates[len(rates) // 2]:,.0f}; target >= 5,000 units/s)")
    s = sorted(runs, key=lambda r: r["makespan_s"])[len(runs) // 2]  # the median run
    extra = units - base
    print(f"overhead: median run: {s['makespan_s']:.2f} s, whole command {s['wall_s']:.2f} s; "
          f"{extra:,} units more than a {base:,}-unit run took {s['makespan_s'] - first['makespan_s']:.2f} s "
          f"more ({extra / max(1e-9, s['makespan_s'] - first['makespan_s']):,.0f} units/s once the "
          f"workers' start-up, which overlaps the first units, is taken out)")
    cpu = s["dispatch_cpu_s"]
    print(f"overhead: the dispatcher thread's CPU: {1e3 * cpu / units:.3f} ms per unit, so it alone could "
          f"schedule {units / cpu:,.0f} units/s")
    # CPU per extra unit, start-up taken out: the difference between the two runs.
    main = (s["main_cpu_s"] - first["main_cpu_s"]) / extra
    workers = (worker_cpu(s) - worker_cpu(first)) / extra
    print(f"overhead: CPU per unit ({base:,} -> {units:,} units): main process {1e3 * main:.3f} ms, "
          f"the 8 workers {1e3 * workers:.3f} ms (read, result file, pipe); on {os.cpu_count()} cores "
          f"that is at most {os.cpu_count() / (main + workers):,.0f} units/s")


def worker_cpu(summary: dict) -> float:
    return sum(d.get("worker_cpu_s", 0.0) for d in summary["devices"])


def bench_memory(tmp: Path) -> None:
    peaks = {}
    sizes = (1_000, 50_000)
    for n in sizes:
        inputs = tmp / f"mem-{n}"
        write_files(inputs, [100] * n, seq_len=100)
        s = run(inputs, tmp / f"out-mem-{n}", (1.0,) * 8, "--sim-rate", "1e15")
        peaks[n] = s["main_peak_rss_mb"]
        print(f"memory: {n:>6} units: main process peak RSS {peaks[n]:.1f} MB "
              f"({n / s['makespan_s']:,.0f} units/s)")
    growth = peaks[sizes[1]] - peaks[sizes[0]]
    per_unit = growth * 1024 * 1024 / (sizes[1] - sizes[0])
    print(f"memory: growth from {sizes[0]:,} to {sizes[1]:,} units: {growth:+.1f} MB, "
          f"{per_unit / 1024:.2f} KB per unit (target <= 1 KB)")


def main(argv: list[str]) -> None:
    which = argv or ["makespan", "overhead", "memory"]
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    with tempfile.TemporaryDirectory(prefix="lbtui-bench-") as tmp:
        for name in which:
            {"makespan": bench_makespan, "overhead": bench_overhead, "memory": bench_memory}[name](Path(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])
