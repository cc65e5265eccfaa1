"""VirNucPro on Ray actors spread over two nodes gives byte-identical results to
the local backend (demo models, CPU), though inputs and outputs stay on the driver,
whole or cut into pieces."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

from lbtui.cli import main as lbtui_main  # noqa: E402
from tests.integration.conftest import REPO, read_manifest, run_json  # noqa: E402

DEMO = REPO / "lbtui" / "demo_data"


def inputs(folder: Path) -> Path:
    """Two demo inputs, one gzipped (the driver reads it; actors get plain FASTA)."""
    folder.mkdir()
    shutil.copy(DEMO / "plasmid_mix.fa", folder)
    with open(DEMO / "tiny_sample.fa", "rb") as src, gzip.open(folder / "tiny_sample.fa.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    return folder


def run(out: Path, models: Path, data: Path, *extra: str) -> None:
    cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "30", "--task", "virnucpro",
           "--models", str(models), "--out", str(out), *extra, str(data)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".tmp-")}


def test_virnucpro_results_identical_to_the_local_backend(cluster, tmp_path) -> None:
    models = tmp_path / "models"
    assert lbtui_main(["models", "init-demo", str(models)]) == 0
    data = inputs(tmp_path / "in")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    run(local, models, data, "--gpus", "cpu:1")
    # Small shards, no stealing: both actors (one per node) run a share of each file
    # (with stealing, the first actor up may take every unit of so small a run).
    run(on_ray, models, data, "--gpus", "cpu:2", "--backend", "ray", "--ray-address", cluster,
        "--shard-size", "7", "--no-steal")
    reference = tree(local / "results")
    assert reference and all(reference.values())
    assert tree(on_ray / "results") == reference
    nodes = {d["node"] for d in run_json(on_ray)["devices"]}
    assert len(nodes) == 2
    assert {r["node"] for r in read_manifest(on_ray)} == nodes
    # Pieces of a few records, stealing and in-flight cuts on: still the same bytes.
    split = tmp_path / "split"
    run(split, models, data, "--gpus", "cpu:2", "--backend", "ray", "--ray-address", cluster,
        "--split-min", "4", "--steal-interval", "0.2")
    assert len(read_manifest(split)) > 2  # files were cut at plan time
    assert tree(split / "results") == reference
