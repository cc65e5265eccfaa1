"""`lbtui models check` on broken folders: one line naming the file, exit 2, nothing written;
worker setup fails with the same line (it runs the same load and test sequence)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from lbtui.cli import main
from virnucpro_bridge.errors import TaskError
from virnucpro_bridge.hardware.devices import DeviceSpec
from virnucpro_bridge.tasks.virnucpro import VirNucProTask

pytestmark = pytest.mark.slow  # builds the demo models


@pytest.fixture
def models(demo_models, tmp_path):
    return Path(shutil.copytree(demo_models, tmp_path / "models"))


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _reshape(path: Path, key: str) -> None:
    state = torch.load(path, weights_only=True)
    state[key] = state[key][:-1]
    torch.save(state, path)


def _poison(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["encoder.layer.0.mlp.wo.weight"][0, 0] = float("nan")
    torch.save(state, path)


def _esm(models: Path) -> Path:
    return next((models / "esm").glob("esm2_*demo.pt"))


def _esm_reshape(path: Path) -> None:
    data = torch.load(path, weights_only=False)
    key = "encoder.sentence_encoder.layers.1.fc1.weight"
    data["model"][key] = data["model"][key][:, :-1]
    torch.save(data, path)


BROKEN = {
    "missing tokenizer": (lambda m: (m / "dnabert" / "tokenizer.json").unlink(),
                          r"dnabert: no tokenizer.json \(DNABERT-S's tokenizer\)"),
    "damaged tokenizer": (lambda m: (m / "dnabert" / "tokenizer.json").write_text("{\"model\": 3"),
                          r"dnabert/tokenizer.json: cannot read as a tokenizers file"),
    "tokenizer bigger than the vocabulary": (lambda m: _edit_json(m / "dnabert" / "config.json", vocab_size=100),
                                             r"tokenizer.json: 281 tokens, but config.json says vocab_size 100"),
    "no weights": (lambda m: (m / "dnabert" / "pytorch_model.bin").unlink(),
                   r"dnabert: no model weights \(model.safetensors or pytorch_model.bin\)"),
    "truncated weights": (lambda m: _truncate(m / "dnabert" / "pytorch_model.bin"),
                          r"dnabert/pytorch_model.bin: truncated or damaged \([\d,]+ bytes, no zip directory at its "
                          r"end\): the DNABERT-S weight file was cut short; copy or download it again$"),
    "weights of the wrong shape": (
        lambda m: _reshape(m / "dnabert" / "pytorch_model.bin", "encoder.layer.1.attention.self.Wqkv.weight"),
        r"pytorch_model.bin: encoder.layer.1.attention.self.Wqkv.weight has shape \[95, 32\], "
        r"but config.json \(.*\) needs \[96, 32\]"),
    "config with more layers than the weights": (
        lambda m: _edit_json(m / "dnabert" / "config.json", num_hidden_layers=3),
        r"config.json: num_hidden_layers 3, but pytorch_model.bin has 2 layers"),
    "config with another hidden size": (
        lambda m: _edit_json(m / "dnabert" / "config.json", hidden_size=64, num_attention_heads=4),
        r"pytorch_model.bin: embeddings.word_embeddings.weight has shape \[281, 32\], but config.json"),
    "config that is not JSON": (lambda m: (m / "dnabert" / "config.json").write_text("{"),
                                r"dnabert/config.json: cannot read as JSON"),
    "NaN in the weights": (lambda m: _poison(m / "dnabert" / "pytorch_model.bin"),
                           r"dnabert: DNABERT-S gives NaN or infinite values on a test sequence"),
    "truncated ESM-2 checkpoint": (lambda m: _truncate(_esm(m)),
                                   r"esm2_t2_demo.pt: truncated or damaged .*: the ESM-2 checkpoint was cut short"),
    "empty ESM-2 checkpoint": (lambda m: _esm(m).write_bytes(b""),
                               r"esm2_t2_demo.pt: empty file \(the ESM-2 checkpoint was not copied or downloaded"),
    "ESM-2 weights of the wrong shape": (
        lambda m: _esm_reshape(_esm(m)),
        r"esm2_t2_demo.pt: layers.1.fc1.weight has shape \[128, 31\], but its cfg \(2 layers x 32, "
        r"4 heads\) needs \[128, 32\]"),
    "truncated classifier": (lambda m: _truncate(m / "classifier.pth"),
                             r"classifier.pth: truncated or damaged \([\d,]+ bytes, no zip directory at its end\): "
                             r"the classifier was cut short; copy or download it again$"),
}


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_folder_is_one_line_exit_2_nothing_written(case, models, tmp_path, monkeypatch, capsys):
    breaks, message = BROKEN[case]
    breaks(models)
    before = _tree(models)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["models", "check", str(models)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lbtui: error: "), captured.err
    assert re.search(message, err[0]), err[0]
    assert "ok" not in captured.out.split()
    assert _tree(models) == before and not any(cwd.iterdir())


@pytest.mark.parametrize("case", ["NaN in the weights", "weights of the wrong shape", "missing tokenizer"])
def test_worker_setup_fails_with_the_same_line(case, models):
    breaks, message = BROKEN[case]
    breaks(models)
    task = VirNucProTask({"models": str(models), "chunk_length": 500})
    with pytest.raises(TaskError, match=message) as info:
        task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1))
    assert "\n" not in str(info.value)


def test_a_standard_bert_folder_is_refused(models):
    """An ordinary BERT checkpoint (position embeddings) is not DNABERT-S."""
    path = models / "dnabert" / "pytorch_model.bin"
    state = torch.load(path, weights_only=True)
    state["embeddings.position_embeddings.weight"] = torch.zeros(512, 32)
    torch.save(state, path)
    with pytest.raises(TaskError, match="a BERT with position embeddings, not DNABERT-S's MosaicBERT"):
        VirNucProTask({"models": str(models), "chunk_length": 500}).check()


@pytest.mark.parametrize("folder, message", [
    ("nowhere", r"^lbtui: error: \S*nowhere: no such folder \(expected esm/, dnabert/ and 500_model.pth or "
                r"classifier.pth; 'lbtui models fetch \S*nowhere' downloads them\)$"),
    ("auto", r"^lbtui: error: auto: ESM-2 checkpoint esm2_t36_3B_UR50D.pt not found in the torch hub cache "
             r"\(looked for .*\); download the models with 'lbtui models fetch DIR' and check that folder: "
             r"lbtui models check DIR$"),
])
def test_check_names_its_own_arguments(folder, message, tmp_path, monkeypatch, capsys):
    """``models check`` has no --models option: its messages must not tell the user to give one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))
    monkeypatch.chdir(tmp_path)
    assert main(["models", "check", folder]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert "--models" not in err[0]


def test_a_classifier_for_the_other_chunk_length_is_named(models, capsys):
    (models / "classifier.pth").rename(models / "300_model.pth")
    assert main(["models", "check", str(models)]) == 2
    err = capsys.readouterr().err
    assert "300_model.pth is there: the classifier must match the chunk length, --chunk-length 300" in err
