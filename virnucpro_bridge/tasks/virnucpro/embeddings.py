"""Nucleotide (DNABERT-S) and protein (ESM-2) embeddings, as upstream computes them.

* Protein: ESM-2 last layer, mean over residue positions 1..min(len, 1024).
* Nucleotide: BERT last hidden state, mean over every token of the input
  (upstream feeds ``input_ids`` alone, CLS and SEP included).

Determinism. On CPU every sequence goes through alone (batch of one, no
padding), exactly as upstream feeds DNABERT-S: a sequence's embedding is then
a function of that sequence only, so results do not depend on which other
sequences share a unit, on sharding or on batch order. On CUDA, sequences are
sorted by length and batched to a token budget (padding masked out) under
fp16/bf16 autocast: fast, and deterministic for a given unit on a given GPU
model, but not bit-identical to CPU.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, Iterator, Sequence

import torch

ESM_MAX_RESIDUES = 1024  # upstream's truncation_seq_length
DNABERT_MAX_BATCH = 128  # sequences per DNABERT batch on CUDA: bounds padding waste


def token_batches(lengths: Sequence[int], toks_per_batch: int, extra: int = 2,
                  max_batch: int | None = None) -> list[list[int]]:
    """Indices grouped so a padded batch holds at most ``toks_per_batch`` tokens.

    Longest first (sorted stably, so ties keep input order); a sequence longer
    than the budget gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        size = lengths[i] + extra
        new_width = max(width, size)
        full = max_batch is not None and len(current) >= max_batch
        if current and (new_width * (len(current) + 1) > toks_per_batch or full):
            batches.append(current)
            current, width = [], 0
            new_width = size
        current.append(i)
        width = new_width
    if current:
        batches.append(current)
    return batches


def autocast_dtype(device: str, enabled: bool) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16; None (float32) on CPU or when off."""
    if not enabled or not device.startswith("cuda"):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: str, dtype: torch.dtype | None):
    return torch.autocast("cuda", dtype=dtype) if dtype is not None else nullcontext()


class ProteinEmbedder:
    def __init__(self, model: Any, alphabet: Any, device: str, toks_per_batch: int = 2048,
                 dtype: torch.dtype | None = None) -> None:
        self.model, self.device, self.dtype = model, device, dtype
        self.layer = model.num_layers
        self.dim = model.embed_dim
        self.toks_per_batch = toks_per_batch
        self.convert = alphabet.get_batch_converter(ESM_MAX_RESIDUES)
        self.batched = device.startswith("cuda")

    def batches(self, proteins: Sequence[str]) -> list[list[int]]:
        if not self.batched:
            return [[i] for i in range(len(proteins))]
        return token_batches([min(len(p), ESM_MAX_RESIDUES) for p in proteins], self.toks_per_batch)

    @torch.inference_mode()
    def __call__(self, proteins: Sequence[str], done: Callable[[int], None] | None = None) -> torch.Tensor:
        """(n, dim) float32 on CPU, rows in input order."""
        out = torch.empty((len(proteins), self.dim), dtype=torch.float32)
        for batch in self.batches(proteins):
            _, strs, tokens = self.convert([(str(i), proteins[i]) for i in batch])
            with _autocast(self.device, self.dtype):
                reps = self.model(tokens.to(self.device), repr_layers=[self.layer])["representations"][self.layer]
            means = torch.stack([reps[row, 1:min(ESM_MAX_RESIDUES, len(s)) + 1].float().mean(0)
                                 for row, s in enumerate(strs)])
            out[batch] = means.cpu()  # one device-to-host copy per batch
            if done:
                done(len(batch))
        return out


class NucleotideEmbedder:
    def __init__(self, tokenizer: Any, model: Any, device: str, toks_per_batch: int = 2048,
                 dtype: torch.dtype | None = None) -> None:
        self.tokenizer, self.model, self.device, self.dtype = tokenizer, model, device, dtype
        self.dim = model.config.hidden_size
        self.toks_per_batch = toks_per_batch
        self.batched = device.startswith("cuda")

    def _ids(self, sequences: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(sequences))["input_ids"]

    def batches(self, ids: Sequence[Sequence[int]]) -> Iterator[list[int]]:
        if not self.batched:
            return iter([[i] for i in range(len(ids))])
        return iter(token_batches([len(x) for x in ids], self.toks_per_batch, extra=0,
                                  max_batch=DNABERT_MAX_BATCH))

    @torch.inference_mode()
    def __call__(self, sequences: Sequence[str], done: Callable[[int], None] | None = None) -> torch.Tensor:
        """(n, dim) float32 on CPU, rows in input order."""
        out = torch.empty((len(sequences), self.dim), dtype=torch.float32)
        ids = self._ids(sequences)
        pad = self.tokenizer.pad_token_id or 0
        for batch in self.batches(ids):
            if len(batch) == 1:  # upstream's call: input_ids alone, no mask
                input_ids = torch.tensor([ids[batch[0]]], dtype=torch.long, device=self.device)
                with _autocast(self.device, self.dtype):
                    hidden = self.model(input_ids)[0]
                out[batch[0]] = hidden[0].float().mean(0).cpu()
            else:
                width = max(len(ids[i]) for i in batch)
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                with _autocast(self.device, self.dtype):
                    hidden = self.model(input_ids.to(self.device), attention_mask=mask.to(self.device))[0]
                m = mask.to(self.device).unsqueeze(-1).float()
                means = (hidden.float() * m).sum(1) / m.sum(1)
                out[batch] = means.cpu()
            if done:
                done(len(batch))
        return out
