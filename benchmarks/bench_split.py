"""Splitting work inside files: makespan ratio with and without ``--no-split`` (prints numbers).

ratio = makespan / (Σ unit cost ÷ Σ speed), the divisible-load bound, where a
unit's cost is its measured seconds × its device's speed. Scenarios:

1. one assembly, 50,000 contigs of 150–900 bp, on sim:1,1,1,1
2. 16 files, lognormal sizes (σ 1.2), jitter 0.3, on sim:3,1.5,1.5,1,1,1,0.8,0.6 (several seeds: worst)
3. 32 files (σ 0.9), same devices
4. 200 files (σ 0.9), same devices

Sim rates are scaled so each run's bound is about ``IDEAL_S`` seconds: a
record here takes ~100× longer than on a real GPU (so the bench stays short),
and the time-based knobs are scaled with it (``SCALED``): ``--split-min 100``
(100 records here ≈ 1,000 real ones) and ``--steal-interval 0.25``.
Usage: python benchmarks/bench_split.py [big|16|32|200 ...] [--seeds N]
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
IDEAL_S = 8.0  # target divisible-load bound per run: long enough that startup jitter is small
LBTUI = [sys.executable, "-m", "lbtui.cli"]
SCALED = ("--split-min", "100", "--steal-interval", "0.25")


def contigs(rng: random.Random, n: int, lo: int, hi: int, prefix: str) -> str:
    return "".join(f">{prefix}{i}\n{'ACGT' * (rng.randint(lo, hi) // 4)}\n" for i in range(n))


def write_assembly(folder: Path) -> int:
    rng = random.Random(1)
    folder.mkdir(parents=True, exist_ok=True)
    text = contigs(rng, 50_000, 150, 900, "c")
    (folder / "assembly.fa").write_text(text)
    return sum(len(line) for line in text.splitlines() if not line.startswith(">"))


def write_lognormal(folder: Path, files: int, sigma: float, seed: int, total: int = 12_000_000) -> int:
    rng = random.Random(seed)
    draws = [rng.lognormvariate(0.0, sigma) for _ in range(files)]
    folder.mkdir(parents=True, exist_ok=True)
    residues = 0
    for i, d in enumerate(draws):
        n = max(1, int(total * d / sum(draws) / 500))
        text = contigs(rng, n, 300, 700, f"f{i}_")
        residues += sum(len(line) for line in text.splitlines() if not line.startswith(">"))
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
    print(f"  {label:<10} makespan {s['makespan_s']:6.2f} s  bound {bound:6.2f} s  ratio {ratio:5.3f}  "
          f"units {len(s['manifest']):4d}  steals {s['steals']:3d}  splits {s.get('splits', 0):3d}")
    print(f"  {'':<10} busy/idle s per device: {busy}")
    return ratio


def scenario(name: str, inputs: Path, residues: int, speeds, tmp: Path, extra=()) -> tuple[float, float]:
    rate = residues / (IDEAL_S * sum(speeds))
    ratios = []
    for label, flags in (("split", ()), ("--no-split", ("--no-split",))):
        s = run(inputs, tmp / f"out-{name}-{len(flags)}", speeds, rate, *extra, *flags)
        ratios.append(report(label, s, speeds))
    return ratios[0], ratios[1]


def main(argv: list[str]) -> None:
    seeds = 3
    if "--seeds" in argv:
        seeds = int(argv[argv.index("--seeds") + 1])
        del argv[argv.index("--seeds"):argv.index("--seeds") + 2]
    which = argv or ["big", "16", "32", "200"]
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    table = []
    with tempfile.TemporaryDirectory(prefix="lbtui-split-") as tmp_name:
        tmp = Path(tmp_name)
        if "big" in which:
            print("one assembly, 50,000 contigs of 150–900 bp, sim:1,1,1,1")
            residues = write_assembly(tmp / "big")
            table.append(("one big file", *scenario("big", tmp / "big", residues, FOUR, tmp), 1.05))
        for files, sigma, target in ((16, 1.2, 1.10), (32, 0.9, 1.05), (200, 0.9, 1.02)):
            if str(files) not in which:
                continue
            worst = (0.0, 0.0)
            for seed in range(seeds if files == 16 else 1):
                print(f"{files} files, lognormal σ {sigma}, jitter 0.3, seed {seed}, sim:{','.join(map(str, EIGHT))}")
                folder = tmp / f"f{files}-{seed}"
                residues = write_lognormal(folder, files, sigma, seed)
                got = scenario(f"{files}-{seed}", folder, residues, EIGHT, tmp,
                               ("--sim-jitter", "0.3", "--sim-seed", str(seed)))
                worst = (max(worst[0], got[0]), max(worst[1], got[1]))
            table.append((f"{files} files", *worst, target))
    print("\nratio = makespan / (Σ unit cost ÷ Σ speed)   (worst over seeds)")
    print(f"  {'input':<14} {'split':>7} {'--no-split':>11} {'target':>7}")
    for name, split, nosplit, target in table:
        print(f"  {name:<14} {split:7.3f} {nosplit:11.3f} {target:7.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
