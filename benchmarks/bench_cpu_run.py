"""A whole CPU run's throughput: `lbtui run --gpus cpu:2 --task virnucpro` on the demo inputs
with the demo models, sequences per second of its makespan (first dispatch to last unit).

With ``--vs TREE`` the same run from another checkout (e.g. main, exported with
``git archive main | tar -x -C /tmp/main``) alternates with this one, A B A B ..., so a
shared machine's drift hits both alike; it prints each side's median and the ratio
pair by pair. Both runs read the same models, and their results are compared byte
for byte (they must not differ). Numbers only; nothing is asserted.

    python benchmarks/bench_cpu_run.py [--runs 5] [--gpus cpu:2] [--vs /tmp/main]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run(tree: Path, models: Path, out: Path, gpus: str) -> tuple[float, int, float]:
    """(makespan s, sequences, wall s of the whole command) of one run from ``tree``."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "60", "--task", "virnucpro",
           "--models", str(models), "--out", str(out), "--gpus", gpus, str(HERE / "lbtui" / "demo_data")]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench_cpu_run: {tree}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    summary = json.loads((out / "summary.json").read_text())
    return float(summary["makespan_s"]), int(summary["sequences"]), wall


def same_results(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a / "results") for p in (a / "results").rglob("*") if p.is_file())
    return bool(files) and all(filecmp.cmp(a / "results" / f, b / "results" / f, shallow=False) for f in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gpus", default="cpu:2")
    parser.add_argument("--vs", type=Path, help="another checkout to alternate with (the 'before')")
    args = parser.parse_args()
    trees = {"this": HERE} | ({"vs": args.vs.resolve()} if args.vs else {})
    with tempfile.TemporaryDirectory(prefix="bench-cpu-run-") as tmp:
        models = Path(tmp) / "models"
        subprocess.run([sys.executable, "-m", "lbtui.cli", "models", "init-demo", str(models)], cwd=HERE,
                       env=dict(os.environ, PYTHONPATH=str(HERE)), check=True, capture_output=True)
        rates: dict[str, list[float]] = {name: [] for name in trees}
        walls: dict[str, list[float]] = {name: [] for name in trees}
        for name, tree in trees.items():  # warm-up: page cache, bytecode
            run(tree, models, Path(tmp) / name, args.gpus)
        for _ in range(args.runs):
            for name, tree in trees.items():
                makespan, sequences, wall = run(tree, models, Path(tmp) / name, args.gpus)
                rates[name].append(sequences / makespan)
                walls[name].append(wall)
        print(f"`lbtui run --gpus {args.gpus} --task virnucpro` on lbtui/demo_data ({sequences:,} sequences), "
              f"demo models; {args.runs} runs each")
        for name, tree in trees.items():
            r = rates[name]
            print(f"  {name} ({tree}): {statistics.median(r):7.1f} seq/s of the makespan "
                  f"(min {min(r):.1f}, max {max(r):.1f}); whole command {statistics.median(walls[name]):.1f} s")
        if args.vs:
            ratios = [a / b for a, b in zip(rates["this"], rates["vs"], strict=True)]
            print(f"  this / vs, pair by pair: median {statistics.median(ratios):.2f} "
                  f"(min {min(ratios):.2f}, max {max(ratios):.2f}); results identical: "
                  f"{same_results(Path(tmp) / 'this', Path(tmp) / 'vs')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
