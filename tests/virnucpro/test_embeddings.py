"""Embeddings equal upstream's computation; GPU-style batching agrees with it."""

from __future__ import annotations

import random

import torch

from virnucpro_bridge.tasks.virnucpro.budget import TokenBudget, token_batches
from virnucpro_bridge.tasks.virnucpro.dnabert_folder import load as load_dnabert
from virnucpro_bridge.tasks.virnucpro.embeddings import NucleotideEmbedder, ProteinEmbedder
from virnucpro_bridge.tasks.virnucpro.esm_checkpoint import load_esm
from virnucpro_bridge.tasks.virnucpro.esm_forward import EsmSdpa, reference_forward
from virnucpro_bridge.tasks.virnucpro.models import locate
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence
from virnucpro_bridge.tasks.virnucpro.translation import six_frames


def test_token_batches():
    lengths = [10, 300, 50, 50, 5000, 7]
    batches = token_batches(lengths, 400)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert batches[0] == [4]  # longer than the budget: alone
    for b in batches[1:]:
        assert max(lengths[i] + 2 for i in b) * len(b) <= 400
    assert token_batches([5] * 10, 1000, max_batch=4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def _inputs():
    rng = random.Random(2)
    dna = [coding_sequence(rng, rng.randint(60, 500)).upper() for _ in range(12)]
    proteins = [p for s in dna for p in six_frames(s) if p and "*" not in p]
    return dna, proteins


def test_esm_mean_equals_upstream_recipe(demo_models):
    paths = locate(str(demo_models), 500)
    model, alphabet, info = load_esm(paths.esm, "cpu")
    _, proteins = _inputs()
    ours = ProteinEmbedder(reference_forward(model), alphabet, info.embed_dim, "cpu", TokenBudget(2048))(proteins)
    convert = alphabet.get_batch_converter(1024)
    for i, protein in enumerate(proteins[:5]):  # upstream: layer-N mean over residues 1..len
        _, strs, toks = convert([("x", protein)])
        with torch.no_grad():
            rep = model(toks, repr_layers=[info.layers])["representations"][info.layers]
        assert torch.equal(ours[i], rep[0, 1:len(strs[0]) + 1].mean(0))
    for forward in (reference_forward(model), EsmSdpa(model)):  # the CUDA path, on CPU: padded batches
        for masked_sum in (False, True):  # row by row, or one masked sum per batch (CUDA's)
            batched = ProteinEmbedder(forward, alphabet, info.embed_dim, "cpu", TokenBudget(400))
            batched.batched, batched.masked_sum = True, masked_sum
            assert torch.allclose(batched(proteins), ours, atol=1e-5)


def test_dnabert_mean_equals_upstream_recipe(demo_models):
    paths = locate(str(demo_models), 500)
    tokenizer, model = load_dnabert(paths.dnabert, "cpu", kernel="matmul")
    dna, _ = _inputs()
    ours = NucleotideEmbedder(tokenizer, model, "cpu", TokenBudget(2048))(dna)
    assert ours.shape == (len(dna), model.config.hidden_size)
    for i, seq in enumerate(dna[:4]):  # upstream: input_ids alone, mean over every token
        input_ids = torch.tensor([tokenizer.ids([seq])[0]])
        with torch.no_grad():
            expected = model(input_ids).mean(dim=1)[0]
        assert torch.equal(ours[i], expected)
    sdpa_tok, sdpa_model = load_dnabert(paths.dnabert, "cpu", kernel="sdpa")
    for m in (model, sdpa_model):  # the CUDA path, on CPU: padded batches, both attention kernels
        for masked_sum in (False, True):
            batched = NucleotideEmbedder(tokenizer, m, "cpu", TokenBudget(300))
            batched.batched, batched.masked_sum = True, masked_sum
            assert torch.allclose(batched(dna), ours, atol=1e-5)
