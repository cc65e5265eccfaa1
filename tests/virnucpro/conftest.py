"""Fixtures for the virnucpro task tests: demo models made once per session,
upstream's reference files (``ref``), and the ``slow`` mark for tests that load models.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REF_ENV = "LBTUI_REF_DIR"
# Fixtures that build or load the torch models: a test using one is ``slow``.
MODEL_FIXTURES = {"demo_models", "cpu_task", "models"}


def find_ref() -> Path:
    """Upstream's reference files: ``$LBTUI_REF_DIR``, else ``shared/ref/virnucpro``
    beside the checkout (CI copies ``shared/`` next to a fresh clone) or inside it."""
    if os.environ.get(REF_ENV):
        return Path(os.environ[REF_ENV])
    candidates = [REPO.parent / "shared" / "ref" / "virnucpro", REPO / "shared" / "ref" / "virnucpro"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


REF = find_ref()


@pytest.fixture(scope="session")
def ref() -> Path:
    """The reference folder; the test is skipped, saying where it looked, when it is missing."""
    if not REF.is_dir():
        pytest.skip(f"VirNucPro reference files not found at {REF}; set {REF_ENV} to their folder")
    return REF


def pytest_collection_modifyitems(config, items) -> None:
    """Tests that build or load the demo models are ``slow`` (deselect with -m 'not slow')."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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

    from virnucpro_bridge.hardware.devices import DeviceSpec
    from virnucpro_bridge.tasks.virnucpro import VirNucProTask

    task = VirNucProTask({"models": str(demo_models), "chunk_length": 500, "toks_per_batch": 2048,
                          "autocast": True})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a worker of cpu:2 on two cores; tiny models run fastest so
    task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1))
    yield task
    task.teardown()
    torch.set_num_threads(threads)
