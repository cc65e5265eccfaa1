"""Token tensors built with numpy are exactly what fair-esm's converter and a padding loop give."""

from __future__ import annotations

import random

import esm
import numpy as np
import pytest
import torch

from virnucpro_bridge.tasks.virnucpro.tokens import EsmTokens, pad_rows

ALPHABET = esm.data.Alphabet.from_architecture("ESM-1b")  # ESM-2's alphabet
AMINO = "ACDEFGHIKLMNPQRSTVWY"


def _reference(proteins, truncation=1024):
    _, _, tokens = ALPHABET.get_batch_converter(truncation)([(str(i), p) for i, p in enumerate(proteins)])
    return tokens


@pytest.mark.parametrize("seed", range(5))
def test_lookup_table_gives_fair_esms_tokens(seed):
    rng = random.Random(seed)
    proteins = ["".join(rng.choice(AMINO + "XBUZO.-") for _ in range(rng.randint(1, 1300))) for _ in range(17)]
    got = EsmTokens(ALPHABET, 1024)(proteins)
    expected = _reference(proteins)
    assert got.dtype == expected.dtype and torch.equal(got, expected)


@pytest.mark.parametrize("odd", ["MKV<mask>LL", "MK VLL", "mkvll", "MKVÄLL", "", "MKV<unk>"])
def test_anything_else_goes_through_fair_esm_itself(odd):
    proteins = ["MKVLAAGH", odd]
    try:
        expected = _reference(proteins)
    except KeyError as exc:  # fair-esm's own error for a letter it does not know
        with pytest.raises(KeyError, match=str(exc.args[0])):
            EsmTokens(ALPHABET, 1024)(proteins)
    else:
        assert torch.equal(EsmTokens(ALPHABET, 1024)(proteins), expected)


def test_truncation_and_one_protein():
    long = "M" * 1500
    assert torch.equal(EsmTokens(ALPHABET, 1024)([long]), _reference([long]))
    assert torch.equal(EsmTokens(ALPHABET, 30)(["MKV" * 20, "MK"]), _reference(["MKV" * 20, "MK"], 30))


def test_pad_rows_equals_a_padding_loop():
    rng = random.Random(1)
    rows = [[rng.randint(5, 4000) for _ in range(rng.randint(0, 40))] for _ in range(30)]
    ids, lengths = pad_rows(rows, pad=3)
    width = max(len(r) for r in rows)
    loop = torch.full((len(rows), width), 3, dtype=torch.long)
    for i, r in enumerate(rows):
        loop[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    assert torch.equal(torch.from_numpy(ids), loop)
    assert lengths.tolist() == [len(r) for r in rows]
    assert pad_rows([], pad=0)[0].shape == (0, 0)
    assert np.array_equal(pad_rows([[7, 8]], pad=0, lead=1, trail=9)[0], [[0, 7, 8, 9]])
