"""Our DNABERT-S against DNABERT-S's own code, on random weights in the real layout.

Max abs difference of mean embeddings <= 1e-5 in float32 on CPU, one sequence
at a time (upstream's call) and in padded batches, for both attention kernels;
the "matmul" kernel CPU workers use is bit-identical to the original.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from virnucpro_bridge.tasks.virnucpro.dnabert import DnabertConfig, alibi_bias
from virnucpro_bridge.tasks.virnucpro.dnabert_folder import expected_shapes, load, read_weights, weights_file

from . import dnabert_reference as ref
from .dnabert_reference import CODE_FILES, real_layout

pytestmark = pytest.mark.slow  # builds and runs models
TOLERANCE = 1e-5


def sequences(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out = [rng.choice("ACGT") * 3, "ACGTNNNACGTTGCA"]  # tiny, and N (the tokenizer's [UNK])
    out += ["".join(rng.choice("ACGT") for _ in range(rng.randint(20, 520))) for _ in range(n - 2)]
    return out


def compare(folder: Path, seqs: list[str]) -> None:
    state = read_weights(weights_file(folder), mmap=False)  # encoder keys, prefix and heads dropped
    config = json.loads((folder / "config.json").read_text())
    hidden = config["hidden_size"]  # the pooler never touches the last hidden state: zeros will do
    pooler = {"pooler.dense.weight": torch.zeros(hidden, hidden), "pooler.dense.bias": torch.zeros(hidden)}
    theirs = ref.reference_model(config, {**state, **pooler})
    for kernel in ("matmul", "sdpa"):
        tokenizer, ours = load(folder, "cpu", kernel=kernel)
        ids = tokenizer.ids(seqs)
        with torch.inference_mode():
            for row in ids:  # upstream's call: one sequence, input_ids alone
                x = torch.tensor([row])
                expected, got = theirs(x)[0].mean(1), ours(x).mean(1)
                assert (expected - got).abs().max().item() <= TOLERANCE
                if kernel == "matmul":
                    assert torch.equal(expected, got)  # the same operations in the same order
            width = max(map(len, ids))  # padded batch with a mask
            batch = torch.full((len(ids), width), tokenizer.pad_id)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for i, row in enumerate(ids):
                batch[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
            expected, got = theirs(batch, attention_mask=mask)[0], ours(batch, mask)
            for i, row in enumerate(ids):
                diff = (expected[i, : len(row)].mean(0) - got[i, : len(row)].mean(0)).abs().max().item()
                assert diff <= TOLERANCE


def test_our_weights_are_the_real_checkpoints_keys_and_shapes():
    shapes = json.loads((ref.folder() / "shapes.json").read_text())
    ours = expected_shapes(DnabertConfig.from_json(ref.config_json()))
    assert {k: list(v) for k, v in ours.items()} == {k: v for k, v in shapes.items() if not k.startswith("pooler.")}


@pytest.mark.parametrize("heads", [4, 6, 12, 16])
def test_alibi_equals_the_reference(heads):
    layers, configuration = ref.modules()
    config = configuration.BertConfig(**dict(ref.config_json(), hidden_size=2 * heads, num_attention_heads=heads,
                                             num_hidden_layers=1, intermediate_size=4, vocab_size=8))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = layers.BertModel(config)
    assert torch.equal(model.encoder.alibi[:, :, :300, :300], alibi_bias(heads, 300))


@pytest.mark.parametrize("weights, prefix", [
    ("pytorch_model.bin", ""),  # as zhihan1996/DNABERT-S has it
    ("pytorch_model.bin", "bert."),  # a BertForMaskedLM checkpoint (its MLM head is ignored)
    ("model.safetensors", ""),
])
def test_small_model_in_the_real_layout_equals_the_reference(tmp_path, weights, prefix):
    folder = real_layout(tmp_path / "dnabert", hidden=48, layers=2, heads=12, intermediate=96,
                         weights=weights, prefix=prefix)
    if prefix:  # an MLM head beside the encoder, as BertForMaskedLM saves it
        state = torch.load(folder / weights, weights_only=True)
        state["cls.predictions.transform.dense.weight"] = torch.zeros(48, 48)
        state["cls.predictions.decoder.weight"] = torch.zeros(4096, 48)
        torch.save(state, folder / weights)
    compare(folder, sequences(12))


def test_full_size_model_equals_the_reference(tmp_path):
    c = ref.config_json()
    folder = real_layout(tmp_path / "dnabert", hidden=c["hidden_size"], layers=c["num_hidden_layers"],
                         heads=c["num_attention_heads"], intermediate=c["intermediate_size"])
    compare(folder, sequences(4))


def test_tokenizer_ids_equal_transformers(tmp_path):
    """Upstream tokenizes with AutoTokenizer; we read tokenizer.json with ``tokenizers`` alone."""
    from transformers import AutoTokenizer

    ref.modules()  # skips without a usable transformers
    folder = real_layout(tmp_path / "dnabert", hidden=16, layers=1, heads=2, intermediate=8)
    tokenizer, _ = load(folder, "cpu")
    theirs = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    seqs = sequences(20)
    assert tokenizer.ids(seqs) == [theirs(s)["input_ids"] for s in seqs]


def test_no_code_from_the_folder_runs_and_transformers_is_not_imported(tmp_path):
    folder = real_layout(tmp_path / "dnabert", hidden=16, layers=1, heads=2, intermediate=8)
    sentinel = tmp_path / "code-ran"
    for name in CODE_FILES:  # any import of the folder's code would leave a mark
        (folder / name).write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    code = ("import sys, torch; from pathlib import Path; "
            "from virnucpro_bridge.tasks.virnucpro.dnabert_folder import load; "
            f"tok, m = load(Path({str(folder)!r}), 'cpu'); m(torch.tensor([tok.ids(['ACGTACGT'])[0]])); "
            "assert 'transformers' not in sys.modules, 'transformers imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not sentinel.exists()
