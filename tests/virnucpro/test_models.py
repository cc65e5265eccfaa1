"""Finding and checking models: each problem is one TaskError naming the file."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from lbtui.cli import main
from virnucpro_bridge.errors import TaskError
from virnucpro_bridge.tasks.virnucpro import VirNucProTask
from virnucpro_bridge.tasks.virnucpro.classifier import MLPClassifier
from virnucpro_bridge.tasks.virnucpro.models import load_esm


@pytest.fixture
def models(demo_models, tmp_path):
    """A private copy of the demo models to break."""
    return shutil.copytree(demo_models, tmp_path / "models")


def check(root, chunk_length=500):
    return VirNucProTask({"models": str(root), "chunk_length": chunk_length}).check()


def test_missing_pieces_are_named(models, tmp_path):
    with pytest.raises(TaskError, match="no such folder"):
        check(tmp_path / "nowhere")
    (models / "classifier.pth").rename(models / "elsewhere.pth")
    with pytest.raises(TaskError, match=r"classifier not found: looked for .*classifier.pth and .*500_model.pth"):
        check(models)
    (models / "elsewhere.pth").rename(models / "300_model.pth")  # upstream's name works
    assert check(models, 300)
    shutil.rmtree(models / "dnabert")
    with pytest.raises(TaskError, match=r"DNABERT-S model not found: no config.json in .*dnabert"):
        check(models, 300)


def test_esm_of_the_wrong_architecture(models):
    esm = next((models / "esm").glob("esm2_*demo.pt"))
    torch.save({"model": {"encoder.embed_tokens.weight": torch.zeros(33, 32),
                          "encoder.embed_positions.weight": torch.zeros(10, 32)},
                "cfg": {"model": argparse.Namespace(encoder_layers=1)}}, esm)
    with pytest.raises(TaskError, match=f"{esm}: not an ESM-2 model"):
        check(models)
    shutil.copy(models / "classifier.pth", esm)
    with pytest.raises(TaskError, match=f"{esm}: not a fair-esm checkpoint"):
        check(models)
    torch.save({"model": {}}, models / "esm" / "second.pt")
    with pytest.raises(TaskError, match="several ESM checkpoints"):
        check(models)


def test_dnabert_of_the_wrong_architecture(models):
    config = models / "dnabert" / "config.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "model_type": "gpt2"}))
    with pytest.raises(TaskError, match=f"{config}: model_type 'gpt2', expected 'bert'"):
        check(models)
    config.write_text(json.dumps({**data, "hidden_size": 48}))
    with pytest.raises(TaskError, match=r"pytorch_model.bin: embeddings.word_embeddings.weight has shape "
                                        r"\[281, 32\], but config.json \(.*hidden 48.*\) needs \[281, 48\]"):
        check(models)


def test_classifier_input_size_must_match_the_embeddings(models):
    torch.save(MLPClassifier(100, 8).state_dict(), models / "classifier.pth")
    with pytest.raises(TaskError, match=r"classifier.pth: classifier takes 100 inputs but the embeddings "
                                        r"give 32 \(DNABERT.*\) \+ 32 \(ESM-2.*\) = 64"):
        check(models)


def test_auto_looks_only_in_local_caches(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(TaskError, match=r"esm2_t36_3B_UR50D.pt not found in the torch hub cache \(looked for "
                                        + str(tmp_path / "torch")):
        check("auto")


def test_auto_finds_upstream_downloads(demo_models, monkeypatch, tmp_path):
    """Lay the demo models out as upstream's downloads would be (the Hugging Face cache
    as it really is: snapshot files are links into blobs/), then find, build and run them."""
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(next((demo_models / "esm").glob("esm2_*demo.pt")), hub / "esm2_t36_3B_UR50D.pt")
    repo = tmp_path / "hf" / "models--zhihan1996--DNABERT-S"
    (repo / "blobs").mkdir(parents=True)
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for i, f in enumerate(sorted((demo_models / "dnabert").iterdir())):
        shutil.copy(f, repo / "blobs" / f"blob{i}")
        (snapshot / f.name).symlink_to(f"../../blobs/blob{i}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    clone = tmp_path / "VirNucPro"
    clone.mkdir()
    shutil.copy(demo_models / "classifier.pth", clone / "500_model.pth")
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "HF_HUB_CACHE": str(tmp_path / "hf"),
           "VIRNUCPRO_DIR": str(clone)}
    code = ("from virnucpro_bridge.tasks.virnucpro.models import locate; p = locate('auto', 500); "
            "print(p.esm.name, p.dnabert.name, p.classifier.parent.name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["esm2_t36_3B_UR50D.pt", "abc123", "VirNucPro"]
    check = subprocess.run([sys.executable, "-m", "lbtui.cli", "models", "check", "auto"], capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().endswith("ok") and "snapshots/abc123" in check.stdout


def test_models_check_command(demo_models, capsys):
    assert main(["models", "check", str(demo_models)]) == 0
    out = capsys.readouterr().out
    assert "MEANINGLESS" in out and out.strip().endswith("ok")
    assert "fair-esm checkpoint, 2 layers x 32, 4 heads; 28,746 parameters; embedding 32" in out
    assert "Hugging Face folder (config.json, tokenizer.json, pytorch_model.bin)" in out
    assert "MLP 64 -> 16 -> 2; 1,106 parameters; 2 classes" in out
    assert main(["models", "check", str(demo_models / "esm")]) == 2
    assert "lbtui: error:" in capsys.readouterr().err


def test_demo_models_load_with_fair_esm_own_loader(demo_models):
    import esm

    path = next((demo_models / "esm").glob("esm2_*demo.pt"))
    with torch.serialization.safe_globals([argparse.Namespace]):
        model, alphabet = esm.pretrained.load_model_and_alphabet_local(str(path))
    assert model.num_layers == 2 and model.embed_dim == 32
    ours, _, _ = load_esm(path, "cpu")  # built on meta, then given the checkpoint's tensors
    theirs = model.eval().state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in ours.state_dict().items() if "regression" not in k)
    toks = alphabet.get_batch_converter()([("p", "MKVLAAGIWQ")])[2]
    with torch.no_grad():
        assert torch.equal(ours(toks, repr_layers=[2])["representations"][2],
                           model(toks, repr_layers=[2])["representations"][2])


@pytest.mark.slow  # a fresh interpreter in a subprocess
def test_package_import_does_not_import_torch():
    code = ("import sys, lbtui.cli, virnucpro_bridge.tasks.virnucpro, lbtui.prepare_cmd, lbtui.models_cmd; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
