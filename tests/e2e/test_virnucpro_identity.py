"""VirNucPro results are byte-identical whoever ran which file.

Real `lbtui run` processes on CPU workers with the demo models: 1 worker with
files never cut (the reference), 2 workers with stealing, 2 workers without,
with sharding, with files cut at plan time and in flight, and a resumed rerun.
Three of the demo files (plain, gzip, tiny; about a tenth of the demo's bases):
what is checked is who ran what, and each run's cost is mostly worker start-up.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lbtui.cli import main as lbtui_main

pytestmark = pytest.mark.slow  # real `lbtui run` processes loading the demo models

DEMO = Path(__file__).resolve().parents[2] / "lbtui" / "demo_data"
FILES = ("plasmid_mix.fa", "hospital_swab.fa.gz", "tiny_sample.fa")
RUN_TIMEOUT_S = 1200  # a hang guard, not a speed check: a run takes ~10 s on two busy cores


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("e2e-inputs")
    for name in FILES:
        shutil.copy(DEMO / name, folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e-models") / "demo"
    assert lbtui_main(["models", "init-demo", str(root)]) == 0
    return root


def run(models: Path, inputs: Path, out: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "30",
           "--task", "virnucpro", "--models", str(models), "--out", str(out), *extra, str(inputs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MEANINGLESS" in proc.stderr  # demo models say so at start ...
    summary = json.loads((out / "summary.json").read_text())
    assert any("MEANINGLESS" in n for n in summary["notices"])  # ... and in the summary
    return summary


def results(out: Path) -> dict[str, bytes]:
    root = out / "results"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(models, inputs, tmp_path_factory) -> dict[str, bytes]:
    """One worker, files never cut: the bytes every other way of running must give."""
    one = tmp_path_factory.mktemp("e2e-reference") / "one"
    run(models, inputs, one, "--gpus", "cpu:1", "--no-split")
    found = results(one)
    assert len(found) == 3 * len(FILES)  # upstream's two result files per input, and one call per sequence
    assert all(found.values())
    return found


def test_results_identical_across_workers_stealing_sharding_and_resume(models, inputs, reference, tmp_path):

    two = tmp_path / "two"
    run(models, inputs, two, "--gpus", "cpu:2", "--steal-interval", "0.2")
    assert results(two) == reference

    static = tmp_path / "static"
    run(models, inputs, static, "--gpus", "cpu:2", "--no-steal", "--shard-size", "97")
    assert results(static) == reference

    # Resume: drop half of the unit results from the manifest's run, rerun into the same folder.
    manifest = (two / "manifest.jsonl").read_text().splitlines()
    kept = manifest[: len(manifest) // 2]
    (two / "manifest.jsonl").write_text("\n".join(kept) + "\n")
    shutil.rmtree(two / "results")
    rerun = run(models, inputs, two, "--gpus", "cpu:2")
    assert rerun["files_skipped"] == len(kept)
    assert rerun["files_done"] == rerun["files_total"]  # the gaps may be planned in other pieces
    assert results(two) == reference


def test_results_identical_with_files_split_at_plan_time_and_in_flight(models, inputs, reference, tmp_path):
    """Small --split-min: files are cut into many pieces, and idle workers cut running ones;
    the per-file results are the bytes a --no-split run writes."""
    split = tmp_path / "split"
    summary = run(models, inputs, split, "--gpus", "cpu:2", "--split-min", "4", "--steal-interval", "0.2")
    rows = [json.loads(line) for line in (split / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) > 2 * len(FILES)  # files were cut at plan time
    assert results(split) == reference
    print(f"splits in flight: {summary['splits']}")


def test_a_long_record_cut_into_chunk_ranges_gives_the_no_split_bytes(models, tmp_path):
    """A 40 kb contig among short reads: cut at its 500 bp chunk boundaries at plan time
    (and in flight when a worker runs dry), the per-file results are byte for byte
    those of a --no-split run, which runs it whole."""
    import random

    from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence

    rng = random.Random(3)
    inputs = tmp_path / "in"
    inputs.mkdir()
    records = [("contig", coding_sequence(rng, 40_000))] + [(f"read{i}", coding_sequence(rng, 600)) for i in range(6)]
    (inputs / "asm.fa").write_text("".join(f">{n}\n{s}\n" for n, s in records))

    def go(out: Path, *extra: str) -> dict:
        cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "30", "--task", "virnucpro",
               "--models", str(models), "--out", str(out), "--gpus", "cpu:2", *extra, str(inputs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads((out / "summary.json").read_text())

    go(tmp_path / "whole", "--no-split")
    summary = go(tmp_path / "cut", "--split-min", "4k", "--steal-interval", "0.2")
    rows = [json.loads(line) for line in (tmp_path / "cut" / "manifest.jsonl").read_text().splitlines()]
    assert sum(1 for r in rows if r["part"] or r["end_part"]) >= 2  # the contig went out in chunk ranges
    assert results(tmp_path / "cut") == results(tmp_path / "whole")
    assert summary["sequences"] == len(records)
    print(f"pieces: {len(rows)}, splits in flight: {summary['splits']}")
