"""The Ray backend beside the local one (prints numbers, asserts nothing).

1. Ray start-up: a local instance (``ray.init``), 8 simulated-GPU actors up
   and set up, and ``ray.shutdown``.
2. Scheduling overhead: zero-cost units through 8 simulated devices, local
   backend and Ray backend (units/s from first dispatch to last completion),
   three rounds each, alternating.
3. Makespan / lower bound of the 200-file heterogeneous scenario (lognormal
   σ 0.9, jitter 0.3, sim:3,1.5,1.5,1,1,1,0.8,0.6), local and Ray.

4. In-flight cuts: one big file on the same devices planned as if equal
   (``--no-weighted``), local and Ray (makespan / lower bound, splits).

Both backends run on this machine (Ray: a local instance per run, as
``--backend ray`` without ``--ray-address`` starts), so the difference is the
backend's own cost: actor calls and the object store instead of pipes.

Usage: python benchmarks/bench_ray.py [startup|overhead|makespan|cuts ...]
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sched import lower_bound, write_files

SPEEDS = (3.0, 1.5, 1.5, 1.0, 1.0, 1.0, 0.8, 0.6)
RATE = 50_000.0  # --sim-rate: residues/s at speed 1
IDEAL_S = 20.0  # scale the file sizes so Σcost / Σspeed is about this
LBTUI = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "60"]
BACKENDS = (("local", ()), ("ray", ("--backend", "ray")))


def run(inputs: Path, out: Path, speeds, *extra: str) -> dict:
    gpus = "sim:" + ",".join(str(s) for s in speeds)
    cmd = LBTUI + ["--gpus", gpus, "--out", str(out), "--sim-rate", str(RATE), *extra, str(inputs)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"lbtui exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    summary = json.loads((out / "summary.json").read_text())
    summary["wall_s"] = wall
    summary["manifest"] = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return summary


def bench_startup(_tmp: Path) -> None:
    import ray

    from virnucpro_bridge.backends.ray import cluster as ray_cluster
    from virnucpro_bridge.backends.ray.actor import DeviceActor
    from virnucpro_bridge.hardware.devices import parse_gpus

    t0 = time.monotonic()
    ray_cluster.connect(None, num_cpus=2)
    t_init = time.monotonic()
    specs = parse_gpus("sim:" + ",".join(map(str, SPEEDS)))
    actor = ray.remote(DeviceActor).options(max_concurrency=2, num_cpus=0, scheduling_strategy="SPREAD")
    actors = [actor.remote(spec, "sim", {}) for spec in specs]
    ray.get([a.setup.remote() for a in actors])
    t_actors = time.monotonic()
    ray_cluster.disconnect()
    t_end = time.monotonic()
    print(f"startup: ray.init (local instance) {t_init - t0:.2f} s; 8 actors up and set up "
          f"{t_actors - t_init:.2f} s; ray.shutdown {t_end - t_actors:.2f} s")


def bench_overhead(tmp: Path, units: int = 4_000, rounds: int = 3) -> None:
    """Rounds alternate the backends, so a busy machine slows both alike; the best
    round of each is the one least disturbed by other load."""
    inputs = tmp / "overhead"
    write_files(inputs, [100] * units, seq_len=100)
    rates: dict[str, list[float]] = {name: [] for name, _ in BACKENDS}
    for k in range(rounds):
        for name, extra in BACKENDS:
            s = run(inputs, tmp / f"out-overhead-{name}-{k}", (1.0,) * 8, "--sim-rate", "1e15", *extra)
            rates[name].append(units / s["makespan_s"] if s["makespan_s"] else math.inf)
    for name, got in rates.items():
        print(f"overhead: {units} zero-cost units on 8 simulated devices, {name:<5}: best {max(got):8,.0f} units/s, "
              f"median {statistics.median(got):8,.0f} (rounds: {', '.join(f'{r:,.0f}' for r in got)})")


def bench_makespan(tmp: Path) -> None:
    rng = random.Random(7)
    draws = [rng.lognormvariate(0.0, 0.9) for _ in range(200)]
    scale = IDEAL_S * sum(SPEEDS) * RATE / sum(draws)
    inputs = tmp / "makespan"
    write_files(inputs, [int(d * scale) for d in draws])
    print(f"makespan: 200 files, lognormal(0, 0.9), jitter 0.3, speeds {','.join(map(str, SPEEDS))}, "
          f"ideal ≈ {IDEAL_S:.0f} s")
    for name, extra in BACKENDS:
        s = run(inputs, tmp / f"out-makespan-{name}", SPEEDS, "--sim-jitter", "0.3", *extra)
        lb = lower_bound(s, SPEEDS)
        print(f"  {name:<5} makespan {s['makespan_s']:7.2f} s  LB {lb:6.2f} s  ratio {s['makespan_s'] / lb:5.3f}  "
              f"steals {s['steals']:3d}  splits {s['splits']:3d}  whole command {s['wall_s']:6.2f} s")


def bench_cuts(tmp: Path) -> None:
    """One big file on the 8 mixed devices, planned as if they were equal
    (``--no-weighted``): the fast ones run dry early and cut the slow ones'
    running pieces. Ray beside local."""
    rng = random.Random(3)
    inputs = tmp / "cuts"
    inputs.mkdir()
    lengths = [rng.randint(150, 900) for _ in range(20_000)]
    (inputs / "assembly.fa").write_text("".join(f">c{i}\n{'ACGT' * (n // 4)}\n" for i, n in enumerate(lengths)))
    rate = sum(n // 4 * 4 for n in lengths) / (IDEAL_S / 2 * sum(SPEEDS))
    print(f"cuts: one file of 20,000 contigs (150–900 bp), speeds {','.join(map(str, SPEEDS))}, "
          f"ideal ≈ {IDEAL_S / 2:.0f} s, --no-weighted --split-min 100 --steal-interval 0.25")
    for name, extra in BACKENDS:
        s = run(inputs, tmp / f"out-cuts-{name.replace(' ', '')}", SPEEDS, "--sim-rate", f"{rate:.0f}",
                "--no-weighted", "--split-min", "100", "--steal-interval", "0.25", *extra)
        lb = lower_bound(s, SPEEDS)
        print(f"  {name:<5} makespan {s['makespan_s']:6.2f} s  LB {lb:6.2f} s  ratio {s['makespan_s'] / lb:5.3f}  "
              f"units {len(s['manifest']):3d}  steals {s['steals']:3d}  splits {s['splits']:3d}")


def main(argv: list[str]) -> None:
    which = argv or ["startup", "overhead", "makespan", "cuts"]
    root = str(Path(__file__).resolve().parents[1])
    os.environ.setdefault("PYTHONPATH", root)
    sys.path.insert(0, root)
    try:
        import ray  # noqa: F401
    except ImportError:
        print("bench_ray: ray is not installed (.venv/bin/pip install -e '.[ray]'); skipped")
        return
    with tempfile.TemporaryDirectory(prefix="lbtui-bench-ray-") as tmp:
        for name in which:
            {"startup": bench_startup, "overhead": bench_overhead, "makespan": bench_makespan,
             "cuts": bench_cuts}[name](Path(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])
