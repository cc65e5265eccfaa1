"""Fixtures for the virnucpro task tests: demo models made once per session."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

REF = Path("/work/shared/ref/virnucpro")
if not REF.is_dir():  # the reference data may also sit beside the repository
    REF = Path(__file__).resolve().parents[3] / "shared" / "ref" / "virnucpro"


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """(id, sequence) pairs; line wrapping ignored."""
    opener = gzip.open if path.name.endswith(".gz") else open
    records: list[tuple[str, list[str]]] = []
    with opener(path, "rt") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith(">"):
                records.append((line[1:].split()[0], []))
            elif line:
                records[-1][1].append(line)
    return [(rid, "".join(parts)) for rid, parts in records]


def write_fasta(path: Path, records, *, wrap: int = 60, newline: str = "\n") -> Path:
    text = ""
    for rid, seq in records:
        text += f">{rid}{newline}"
        for i in range(0, len(seq), wrap):
            text += seq[i:i + wrap] + newline
    data = text.encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory) -> Path:
    """Demo models written through the CLI (``lbtui models init-demo``)."""
    from lbtui.cli import main

    root = tmp_path_factory.mktemp("models") / "demo"
    assert main(["models", "init-demo", str(root)]) == 0
    return root


@pytest.fixture(scope="session")
def cpu_task(demo_models):
    """A VirNucProTask set up on CPU once (models loaded), chunk length 500."""
    import torch

    from virnucpro_bridge.devices import DeviceSpec
    from virnucpro_bridge.tasks.virnucpro import VirNucProTask

    task = VirNucProTask({"models": str(demo_models), "chunk_length": 500, "toks_per_batch": 2048,
                          "autocast": True})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a worker of cpu:2 on two cores; tiny models run fastest so
    task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1))
    yield task
    task.teardown()
    torch.set_num_threads(threads)
