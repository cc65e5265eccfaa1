"""`make bench`: every benchmark, one after the other; each prints its own numbers.

Usage: python benchmarks/run_all.py [sched] [split] [ui] [read] [plan] [virnucpro] [host] [cpurun] [report] [ray]
       [channel] [soak]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "sched": ["bench_sched.py"],  # makespan/LB, scheduling overhead, main-process memory
    "split": ["bench_split.py"],  # splitting inside files: makespan ratio vs --no-split, 4 scenarios
    "ui": ["bench_ui.py"],  # dashboard refresh cost and idle CPU
    "read": ["bench_read.py"],  # FASTA scan MB/s; first vs last unit read, seek vs skip
    "plan": ["bench_plan.py"],  # planning 50,000 small files: seconds, peak memory, compact vs plain bookkeeping
    "virnucpro": ["bench_virnucpro.py", "--cuda"],  # per-stage CPU throughput; CUDA when present
    "host": ["bench_host_prep.py"],  # host preparation per 10,000 sequences: before vs after (prefetch thread's work)
    "cpurun": ["bench_cpu_run.py", "--runs", "3"],  # a whole `lbtui run --gpus cpu:2`'s sequences/s
    "report": ["bench_report.py"],  # `lbtui report` time and page size for 10,000 units
    "ray": ["bench_ray.py"],  # Ray start-up; overhead, makespan/LB and in-flight cuts, Ray beside local
    "channel": ["bench_channel.py"],  # 20 dashboards' cost to the dispatcher; how fast an attach ends
    "soak": ["bench_soak.py"],  # 100,000 units, 3 dashboards re-attaching each minute: RSS and fds stay flat
}


def main(argv: list[str]) -> int:
    failed = 0
    for name in argv or list(SCRIPTS):
        script, *args = SCRIPTS[name]
        print(f"== {script} {' '.join(args)}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / script), *args], cwd=HERE.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
