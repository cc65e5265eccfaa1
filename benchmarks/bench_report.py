"""`lbtui report` on a fixture run folder of 10,000 units (prints numbers, asserts nothing).

Goals: the page in under 30 s and under 10 MB. Also prints the
time to load the folder, the share of the page the timeline takes, and the
time of the whole CLI (interpreter start included).

Usage: python benchmarks/bench_report.py [UNITS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lbtui.report.page import build  # noqa: E402
from tests.report.runfolder import make_run  # noqa: E402
from virnucpro_bridge.runfiles.reader import load  # noqa: E402

SPEEDS = (2.5, 1.5, 1.5, 1.0, 1.0, 1.0, 0.9, 0.75)  # as bench_sched: 8 mixed GPUs


def main(argv: list[str]) -> int:
    units = int(argv[0]) if argv else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        made = make_run(Path(tmp) / "run", units=units, speeds=SPEEDS, failures=20, exit_code=1,
                        controls=True, earlier=units // 10)
        size_in = sum(p.stat().st_size for p in made.path.iterdir())
        t0 = time.perf_counter()
        load(made.path)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        html = build(made.path)
        t_build = time.perf_counter() - t0
        start, end = html.find('aria-label="timeline'), html.find("</svg>", html.find('aria-label="timeline'))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "lbtui.cli", "report", str(made.path)], cwd=ROOT,
                              capture_output=True, text=True)
        t_cli = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"lbtui report exited {proc.returncode}: {proc.stderr.strip()}")
        page = (made.path / "report.html").stat().st_size
    mb = 1024 * 1024
    print(f"units {units:,} ({units // 10:,} from an earlier session), 8 devices; run folder {size_in / mb:.1f} MB")
    print(f"load {t_load:.2f} s  build page {t_build:.2f} s  whole CLI {t_cli:.2f} s   (goal < 30 s)")
    print(f"page {page / mb:.2f} MB (goal < 10 MB), timeline SVG {(end - start) / mb:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
