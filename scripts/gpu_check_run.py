"""The GPU check's real run: ``lbtui run --task virnucpro`` on the GPUs against one CPU worker.

    PYTHON scripts/gpu_check_run.py --work DIR [--cuda]      (scripts/gpu_check.sh runs it)

Writes the demo models (random weights, built here), runs the demo inputs
headless with ``--gpus all`` (without ``--cuda``: ``--gpus cpu:2`` on a few of
them) and with ``--gpus cpu:1``, and compares the two: every sequence in both,
each score within ``SCORE_TOLERANCE``, labels agreeing on at least
``LABEL_AGREEMENT`` of the sequences. Exit 1 with the differences otherwise.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "lbtui" / "demo_data"
CPU_ONLY_INPUTS = ("tiny_sample.fa", "plasmid_mix.fa")  # without a GPU: seconds, not a minute
SCORE_TOLERANCE = 0.05  # half precision on random weights (tests/virnucpro/test_cuda.py holds the same)
LABEL_AGREEMENT = 0.99


def lbtui(*args: str) -> float:
    """Run ``lbtui`` with this Python; seconds it took. Exits with its tail on failure."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "lbtui.cli", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        print((proc.stdout + proc.stderr)[-2000:])
        raise SystemExit(f"FAIL: lbtui {' '.join(args[:3])} ... exited {proc.returncode}")
    return time.monotonic() - started


def read(out: Path) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """(scores by frame id, label by sequence) over every input's results."""
    scores: dict[str, tuple[float, float]] = {}
    labels: dict[str, str] = {}
    for folder in sorted((out / "results").iterdir()):
        with open(folder / "prediction_results.txt", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                scores[f"{folder.name}/{row['Sequence_ID']}"] = (float(row["score1"]), float(row["score2"]))
        with open(folder / "prediction_results_highestscore.csv", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                labels[f"{folder.name}/{row['Modified_ID']}"] = row["Is_Virus"]
    return scores, labels


def compare(got: Path, expected: Path) -> list[str]:
    """What differs beyond the tolerances (empty: passed); prints the measured differences."""
    (s1, l1), (s2, l2) = read(got), read(expected)
    problems = []
    if s1.keys() != s2.keys() or l1.keys() != l2.keys():
        problems.append(f"different sequences: {len(s1.keys() ^ s2.keys())} frames, {len(l1.keys() ^ l2.keys())} "
                        "sequences in one run only")
    common = s1.keys() & s2.keys()
    worst = max((max(abs(a - b) for a, b in zip(s1[k], s2[k], strict=True)) for k in common), default=0.0)
    same = sum(l1[k] == l2[k] for k in l1.keys() & l2.keys())
    share = same / max(1, len(l1.keys() & l2.keys()))
    print(f"  {len(common)} frames, {len(l1)} sequences: largest score difference {worst:.4f} "
          f"(allowed {SCORE_TOLERANCE}), labels agree on {100 * share:.2f} % (needed {100 * LABEL_AGREEMENT:.0f} %)")
    if worst > SCORE_TOLERANCE:
        problems.append(f"a score differs by {worst:.4f} > {SCORE_TOLERANCE}")
    if share < LABEL_AGREEMENT:
        problems.append(f"labels agree on {100 * share:.2f} % < {100 * LABEL_AGREEMENT:.0f} %")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--cuda", action="store_true", help="compare --gpus all with --gpus cpu:1")
    args = parser.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    models = work / "models"
    lbtui("models", "init-demo", str(models))
    if args.cuda:
        inputs = [str(DEMO)]
    else:
        (work / "in").mkdir(exist_ok=True)
        for name in CPU_ONLY_INPUTS:
            (work / "in" / name).write_bytes((DEMO / name).read_bytes())
        inputs = [str(work / "in")]
    spec = "all" if args.cuda else "cpu:2"
    common = ("--headless", "--task", "virnucpro", "--models", str(models))
    seconds = lbtui("run", *common, "--gpus", spec, "--out", str(work / "gpus"), *inputs)
    print(f"  --gpus {spec}: {seconds:.1f} s")
    seconds = lbtui("run", *common, "--gpus", "cpu:1", "--out", str(work / "cpu1"), *inputs)
    print(f"  --gpus cpu:1: {seconds:.1f} s")
    problems = compare(work / "gpus", work / "cpu1")
    for line in problems:
        print(f"FAIL: --gpus {spec} against --gpus cpu:1: {line}")
    if not problems:
        print(f"PASS: lbtui run --gpus {spec} agrees with --gpus cpu:1")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
