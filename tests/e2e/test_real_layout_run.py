"""`lbtui run --gpus cpu:1 --models DIR` on DNABERT-S in its real Hugging Face layout
(its own code and auto_map beside the weights, DNABERT-2's tokenizer) and fair-esm's
checkpoint format: it passes with and without ``triton`` importable, gives the
predictions DNABERT-S's own code gives, and reports the device's notes in summary.json.

``triton`` goes into a separate ``pip install --target`` folder put on PYTHONPATH
(about 1 GB, once, into ``<venv>/lbtui-test-triton``; ``$LBTUI_TEST_TRITON`` may name
another folder that already holds it);
the test is skipped when it cannot be installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lbtui.cli import main as lbtui_main
from tests.virnucpro import dnabert_reference as ref
from tests.virnucpro.test_task import run_file

pytestmark = pytest.mark.slow  # real `lbtui run` processes loading models
DEMO = Path(__file__).resolve().parents[2] / "lbtui" / "demo_data"
INPUT = DEMO / "tiny_sample.fa"
RUN_TIMEOUT_S = 900  # a hang guard, not a speed check
TRITON_ENV = "LBTUI_TEST_TRITON"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Demo ESM-2 and classifier, DNABERT-S as the HF cache holds it (random weights, 12 heads)."""
    from virnucpro_bridge.tasks.virnucpro.demo_models import write_classifier

    root = tmp_path_factory.mktemp("real-layout") / "models"
    assert lbtui_main(["models", "init-demo", str(root)]) == 0
    (root / "demo_models.json").unlink()  # not demo models any more: a real-layout folder
    for p in sorted((root / "dnabert").iterdir(), reverse=True):
        p.unlink()
    (root / "dnabert").rmdir()
    ref.real_layout(root / "dnabert", hidden=48, layers=2, heads=12, intermediate=96)
    write_classifier(root / "classifier.pth", 48 + 32, 16)  # DNABERT 48 + the demo ESM-2's 32
    return root


@pytest.fixture(scope="module")
def triton_path() -> Path:
    given = os.environ.get(TRITON_ENV)
    # Installed once beside the test environment, not into it (the product must not see
    # triton unless a test asks): later runs on the same checkout reuse it.
    target = Path(given) if given else Path(sys.prefix) / "lbtui-test-triton"
    if not given and not (target / "triton").is_dir():
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                              str(target), "triton"], capture_output=True, text=True, timeout=1200)
        if pip.returncode != 0:
            pytest.skip(f"triton could not be installed: {pip.stderr.strip().splitlines()[-1:]}")
    check = subprocess.run([sys.executable, "-c", "import triton"], env=_env(target), capture_output=True)
    if check.returncode != 0:
        if not given:
            shutil.rmtree(target, ignore_errors=True)  # a broken install (an interrupted pip): the next run retries
        pytest.skip(f"triton in {target} does not import here")
    return target


def _env(extra_path: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH")) if p)
    return env


def run(models: Path, out: Path, pythonpath: Path | None = None) -> dict:
    cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "30", "--gpus", "cpu:1",
           "--task", "virnucpro", "--models", str(models), "--out", str(out), str(INPUT)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=_env(pythonpath))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())


def results(out: Path) -> dict[str, bytes]:
    root = out / "results"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_runs_with_and_without_triton_importable(models, triton_path, tmp_path):
    plain = run(models, tmp_path / "plain")
    with_triton = run(models, tmp_path / "triton", triton_path)
    assert plain["files_failed"] == with_triton["files_failed"] == 0
    assert results(tmp_path / "triton") == results(tmp_path / "plain")
    notes = with_triton["devices"][0]["task_notes"]
    assert notes["precision"] == "fp32" and notes["DNABERT batch"].endswith("tokens")


def test_predictions_equal_dnabert_s_own_code(models, tmp_path):
    """The same input through DNABERT-S's own code (transformers' tokenizer, its BertModel
    on the PyTorch path) gives byte-identical result files."""
    import torch
    from transformers import AutoTokenizer

    from virnucpro_bridge.hardware.devices import DeviceSpec
    from virnucpro_bridge.tasks.virnucpro import VirNucProTask
    from virnucpro_bridge.tasks.virnucpro.dnabert_folder import read_weights, weights_file

    run(models, tmp_path / "lbtui")
    folder = models / "dnabert"
    config = json.loads((folder / "config.json").read_text())
    theirs = ref.reference_model(config, torch.load(weights_file(folder), weights_only=True))
    hf_tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert read_weights(weights_file(folder))  # the file we load is the one they load

    class UpstreamTokenizer:
        pad_id = hf_tokenizer.pad_token_id

        def ids(self, seqs):
            return [hf_tokenizer(s, return_tensors="pt")["input_ids"][0].tolist() for s in seqs]

    task = VirNucProTask({"models": str(models), "chunk_length": 500})
    task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1))
    task.nucleotide.tokenizer = UpstreamTokenizer()
    task.nucleotide.model = lambda input_ids, mask=None: theirs(input_ids)[0]  # upstream: model(ids)[0]
    files = run_file(task, INPUT, tmp_path / "upstream")
    expected = {f"{INPUT.name}/{name}": data for name, data in files.items()}
    assert results(tmp_path / "lbtui") == expected
