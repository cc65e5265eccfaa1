"""Nucleotide (DNABERT-S) and protein (ESM-2) embeddings, as upstream computes them.

* Protein: ESM-2 last layer, mean over residue positions 1..min(len, 1024).
* Nucleotide: DNABERT-S last hidden state, mean over every token of the input
  (upstream feeds ``input_ids`` alone, CLS and SEP included).

Determinism. On CPU every sequence goes through alone (batch of one, no
padding), exactly as upstream feeds both models: a sequence's embedding is then
a function of that sequence only, so results do not depend on which other
sequences share a unit, on sharding or on batch order. On CUDA, sequences are
sorted by length and batched to a token budget (padding masked out) in
fp16/bf16 (precision.py): fast, and deterministic for a given unit on a given
GPU model, but not bit-identical to CPU. A CUDA out-of-memory error shrinks the
budget and retries (budget.py) instead of failing the unit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .budget import TokenBudget, run_batched
from .precision import autocast

ESM_MAX_RESIDUES = 1024  # upstream's truncation_seq_length
DNABERT_MAX_BATCH = 128  # sequences per DNABERT batch on CUDA: bounds padding waste

Done = Callable[[int], None]


class ProteinEmbedder:
    """``forward(tokens) -> (batch, tokens, dim)``: fair-esm's forward or esm_forward.EsmSdpa."""

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], alphabet: Any, dim: int,
                 device: str, budget: TokenBudget, dtype: torch.dtype | None = None) -> None:
        self.forward, self.dim, self.device, self.dtype = forward, dim, device, dtype
        self.budget = budget
        self.convert = alphabet.get_batch_converter(ESM_MAX_RESIDUES)
        self.batched = device.startswith("cuda")

    @torch.inference_mode()
    def __call__(self, proteins: Sequence[str], done: Done | None = None) -> torch.Tensor:
        """(n, dim) float32 on CPU, rows in input order."""
        out = torch.empty((len(proteins), self.dim), dtype=torch.float32)

        def run(batch: list[int]) -> None:
            _, strs, tokens = self.convert([(str(i), proteins[i]) for i in batch])
            with autocast(self.device, self.dtype):
                reps = self.forward(tokens.to(self.device))
            means = torch.stack([reps[row, 1:min(ESM_MAX_RESIDUES, len(s)) + 1].float().mean(0)
                                 for row, s in enumerate(strs)])
            out[batch] = means.cpu()  # one device-to-host copy per batch
            if done:
                done(len(batch))

        if not self.batched:
            for i in range(len(proteins)):
                run([i])
        else:
            lengths = [min(len(p), ESM_MAX_RESIDUES) for p in proteins]
            run_batched(lengths, self.budget, run, extra=2, what="protein", unit="residues",
                        device=self.device)
        return out


class NucleotideEmbedder:
    """``tokenizer``: dnabert_folder.DnaTokenizer; ``model``: dnabert.MosaicBert."""

    def __init__(self, tokenizer: Any, model: Any, device: str, budget: TokenBudget,
                 dtype: torch.dtype | None = None) -> None:
        self.tokenizer, self.model, self.device, self.dtype = tokenizer, model, device, dtype
        self.dim = model.config.hidden_size
        self.budget = budget
        self.batched = device.startswith("cuda")

    @torch.inference_mode()
    def __call__(self, sequences: Sequence[str], done: Done | None = None) -> torch.Tensor:
        """(n, dim) float32 on CPU, rows in input order."""
        out = torch.empty((len(sequences), self.dim), dtype=torch.float32)
        ids = self.tokenizer.ids(sequences)

        def run(batch: list[int]) -> None:
            width = max(len(ids[i]) for i in batch)
            input_ids = torch.full((len(batch), width), self.tokenizer.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            # one sequence: upstream's call, input_ids alone (no mask, nothing padded)
            attention = mask.to(self.device) if len(batch) > 1 else None
            with autocast(self.device, self.dtype):
                hidden = self.model(input_ids.to(self.device), attention)
            # each row's mean over its own tokens, the same reduction a batch of one does
            means = torch.stack([hidden[row, : len(ids[i])].float().mean(0) for row, i in enumerate(batch)])
            out[batch] = means.cpu()
            if done:
                done(len(batch))

        if not self.batched:
            for i in range(len(sequences)):
                run([i])
        else:
            run_batched([len(x) for x in ids], self.budget, run, extra=0, what="DNA sequence",
                        unit="tokens", device=self.device, max_batch=DNABERT_MAX_BATCH)
        return out
