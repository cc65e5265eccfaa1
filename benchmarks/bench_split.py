"""Splitting work inside files and records: makespan ratio with and without ``--no-split``.

ratio = makespan / (Σ unit cost ÷ Σ speed), the divisible-load bound, where a
unit's cost is its measured seconds × its device's speed. Scenarios (name: target):

  big      one assembly, 50,000 contigs of 150–900 bp, sim:1,1,1,1                   (≤ 1.03)
  16       16 files of a few hundred records (lognormal σ 1.2, 60–450 bp), EIGHT     (≤ 1.10)
  32       32 such files, EIGHT                                                       (≤ 1.05)
  genomes  one file of 4 complete-genome-sized records (2–5 Mb), EIGHT               (≤ 1.10)
  200      200 files (σ 0.9, 300–700 bp records), EIGHT                               (≤ 1.02)
  16old    16 files of 1,500+ records (σ 1.2, 300–700 bp), EIGHT  (the first splitting bench)
  32old    32 such files (σ 0.9), EIGHT

EIGHT = sim:3,1.5,1.5,1,1,1,0.8,0.6 with jitter 0.3; 16, 32 and 16old: worst of 3 seeds.
Sim rates are scaled so each run's bound is about ``IDEAL_S`` seconds; the
steal interval is scaled with it. ``--split-min`` is the default (auto: 100 ×
the fixed cost of a unit, measured) unless ``--split-min X`` is given here.
Usage: python benchmarks/bench_split.py [big 16 32 genomes 200 16old 32old ...] [--seeds N] [--split-min X]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FOUR = (1.0, 1.0, 1.0, 1.0)
EIGHT = (3.0, 1.5, 1.5, 1.0, 1.0, 1.0, 0.8, 0.6)
IDEAL_S = 10.0  # target divisible-load bound per run: long enough that startup jitter is small
LBTUI = [sys.executable, "-m", "lbtui.cli"]
SCALED = ("--steal-interval", "0.25")


def contigs(rng: random.Random, n: int, lo: int, hi: int, prefix: str) -> str:
    return "".join(f">{prefix}{i}\n{'ACGT' * (rng.randint(lo, hi) // 4)}\n" for i in range(n))


def residues_of(text: str) -> int:
    return sum(len(line) for line in text.splitlines() if not line.startswith(">"))


def write_assembly(folder: Path, seed: int = 1) -> int:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    text = contigs(rng, 50_000, 150, 900, "c")
    (folder / "assembly.fa").write_text(text)
    return residues_of(text)


def write_genomes(folder: Path, seed: int = 1) -> int:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    with open(folder / "genomes.fa", "w") as fh:
        for i in range(4):
            n = rng.randint(2_000_000, 5_000_000)
            fh.write(f">genome{i}\n")
            for j in range(0, n, 80):
                fh.write("ACGT" * 20 if j + 80 <= n else "A" * (n - j))
                fh.write("\n")
            total += n
    return total


def write_few_hundred(folder: Path, files: int, sigma: float, seed: int) -> int:
    """Files of a few hundred records each (lognormal counts), 60–450 bp records."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    residues = 0
    for i in range(files):
        n = max(20, int(300 * rng.lognormvariate(0.0, sigma)))
        text = contigs(rng, n, 60, 450, f"f{i}_")
        residues += residues_of(text)
        (folder / f"file_{i:03d}.fa").write_text(text)
    return residues


def write_lognormal(folder: Path, files: int, sigma: float, seed: int, total: int = 12_000_000) -> int:
    rng = random.Random(seed)
    draws = [rng.lognormvariate(0.0, sigma) for _ in range(files)]
    folder.mkdir(parents=True, exist_ok=True)
    residues = 0
    for i, d in enumerate(draws):
        n = max(1, int(total * d / sum(draws) / 500))
        text = contigs(rng, n, 300, 700, f"f{i}_")
        residues += residues_of(text)
        (folder / f"file_{i:03d}.fa").write_text(text)
    return residues


def run(inputs: Path, out: Path, speeds, rate: float, *extra: str) -> dict:
    gpus = "sim:" + ",".join(f"{s:g}" for s in speeds)
    cmd = LBTUI + ["run", "--headless", "--refresh", "60", "--gpus", gpus, "--out", str(out),
                   "--sim-rate", f"{rate:.0f}", *SCALED, *extra, str(inputs)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"lbtui exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    summary = json.loads((out / "summary.json").read_text())
    summary["wall_s"] = time.monotonic() - t0
    summary["manifest"] = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return summary


def report(label: str, s: dict, speeds) -> float:
    costs = [e["seconds"] * speeds[e["device_index"]] for e in s["manifest"]]
    bound = sum(costs) / sum(speeds)
    ratio = s["makespan_s"] / bound
    busy = " ".join(f"{d['busy_s']:.1f}/{max(0.0, s['makespan_s'] - d['busy_s']):.1f}" for d in s["devices"])
    inside = sum(1 for e in s["manifest"] if e.get("part") or e.get("end_part"))
    print(f"  {label:<10} makespan {s['makespan_s']:6.2f} s  bound {bound:6.2f} s  ratio {ratio:5.3f}  "
          f"units {len(s['manifest']):4d} ({inside} inside records)  steals {s['steals']:3d}  "
          f"splits {s.get('splits', 0):3d}")
    fixed = s.get("unit_fixed_cost_s", 0.0) * 1000
    print(f"  {'':<10} busy/idle s per device: {busy}   fixed cost per unit {fixed:.0f} ms")
    return ratio


def scenario(name: str, inputs: Path, residues: int, speeds, tmp: Path, extra=()) -> tuple[float, float]:
    rate = residues / (IDEAL_S * sum(speeds))
    ratios = []
    for label, flags in (("split", ()), ("--no-split", ("--no-split",))):
        s = run(inputs, tmp / f"out-{name}-{len(flags)}", speeds, rate, *extra, *flags)
        ratios.append(report(label, s, speeds))
    return ratios[0], ratios[1]


JITTER = ("--sim-jitter", "0.3")
# name: (row label, writer(folder, seed) -> residues, devices, seeds, target)
SCENARIOS = {
    "big": ("one big file", lambda f, s: write_assembly(f), FOUR, 1, 1.03),
    "16": ("16 files", lambda f, s: write_few_hundred(f, 16, 1.2, s), EIGHT, 3, 1.10),
    "32": ("32 files", lambda f, s: write_few_hundred(f, 32, 1.2, s), EIGHT, 3, 1.05),
    "genomes": ("long records", lambda f, s: write_genomes(f, s + 1), EIGHT, 1, 1.10),
    "200": ("200 files", lambda f, s: write_lognormal(f, 200, 0.9, s), EIGHT, 1, 1.02),
    "16old": ("16 big files", lambda f, s: write_lognormal(f, 16, 1.2, s), EIGHT, 3, 1.10),
    "32old": ("32 big files", lambda f, s: write_lognormal(f, 32, 0.9, s), EIGHT, 1, 1.05),
}
DESCRIBE = {
    "big": "one assembly, 50,000 contigs of 150–900 bp, sim:1,1,1,1",
    "16": "16 files of a few hundred records (lognormal σ 1.2, 60–450 bp), jitter 0.3",
    "32": "32 files of a few hundred records (lognormal σ 1.2, 60–450 bp), jitter 0.3",
    "genomes": "one file of 4 genome-sized records (2–5 Mb), jitter 0.3",
    "200": "200 files (lognormal σ 0.9, 300–700 bp records), jitter 0.3",
    "16old": "16 files (lognormal σ 1.2, 300–700 bp records, 12 Mb in all), jitter 0.3",
    "32old": "32 files (lognormal σ 0.9, 300–700 bp records, 12 Mb in all), jitter 0.3",
}


def main(argv: list[str]) -> None:
    seeds, extra = 3, []
    if "--seeds" in argv:
        seeds = int(argv[argv.index("--seeds") + 1])
        del argv[argv.index("--seeds"):argv.index("--seeds") + 2]
    if "--split-min" in argv:
        extra = ["--split-min", argv[argv.index("--split-min") + 1]]
        del argv[argv.index("--split-min"):argv.index("--split-min") + 2]
    which = argv or ["big", "16", "32", "genomes", "200", "16old", "32old"]
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    table = []
    with tempfile.TemporaryDirectory(prefix="lbtui-split-") as tmp_name:
        tmp = Path(tmp_name)
        for name in which:
            label, write, speeds, n_seeds, target = SCENARIOS[name]
            worst = (0.0, 0.0)
            for seed in range(min(seeds, n_seeds)):
                devices = ",".join(f"{s:g}" for s in speeds)
                print(f"{DESCRIBE[name]}, seed {seed}, sim:{devices}", flush=True)
                folder = tmp / f"{name}-{seed}"
                residues = write(folder, seed)
                flags = (*JITTER, "--sim-seed", str(seed)) if speeds is EIGHT else ()
                got = scenario(f"{name}-{seed}", folder, residues, speeds, tmp, (*flags, *extra))
                worst = (max(worst[0], got[0]), max(worst[1], got[1]))
            table.append((label, *worst, target))
    print("\nratio = makespan / (Σ unit cost ÷ Σ speed)   (worst over seeds)"
          + (f"   --split-min {extra[1]}" if extra else "   --split-min auto"))
    print(f"  {'input':<14} {'split':>7} {'--no-split':>11} {'target':>7}")
    for name, split, nosplit, target in table:
        print(f"  {name:<14} {split:7.3f} {nosplit:11.3f} {target:7.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
