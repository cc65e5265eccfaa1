"""Nucleotide (DNABERT-S) and protein (ESM-2) embeddings, as upstream computes them.

* Protein: ESM-2 last layer, mean over residue positions 1..min(len, 1024).
* Nucleotide: DNABERT-S last hidden state, mean over every token (CLS, SEP included).

On CPU every sequence goes through alone, as upstream feeds both models, so an
embedding depends on that sequence only (not on sharding or batch order). On CUDA,
sequences are sorted by length and batched to a token budget (budget.py; padding
masked out) in fp16/bf16 (precision.py): deterministic per unit and GPU model, not
bit-identical to CPU. Two halves, so a prefetch thread does the first while the
device runs the second (task.py)::

    prepare(sequences)  host only: tokens (tokens.py), batches planned, tensors (pinned on CUDA)
    run(prepared)       per batch: copy ─► forward ─► masked mean on the device ─► one copy back

A non-finite batch is redone in float32; still non-finite, :class:`NonFinite` names its row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..phases import PhaseClock
from .budget import TokenBudget, run_batched, token_batches
from .precision import autocast, full_precision
from .tokens import EsmTokens, pad_rows, pinned

ESM_MAX_RESIDUES = 1024  # upstream's truncation_seq_length
DNABERT_MAX_BATCH = 512  # sequences per DNABERT batch on CUDA: one block of frames (task.BLOCK_FRAMES)


class NonFinite(RuntimeError):
    """A sequence's embedding is NaN or infinite even in float32."""

    def __init__(self, model: str, index: int) -> None:
        super().__init__(f"{model} gives a non-finite (NaN or infinite) embedding for sequence {index}, "
                         "even in float32")
        self.model, self.index = model, index


@dataclass
class Prepared:
    """One call's sequences on the host: their lengths, the planned batches and, per
    batch, its host tensors (a batch planned again after out-of-memory builds its own)."""

    data: Any  # what building a batch needs: the proteins, or DNABERT's token id lists
    lengths: list[int]
    batches: list[list[int]]
    tensors: dict[tuple[int, ...], tuple[torch.Tensor, ...]] = field(default_factory=dict)


class Embedder:
    """What both models share: planning, the batch loop, the checks and the float32 redo."""

    name = "model"
    extra = 0  # tokens a sequence takes beyond its length (ESM's <cls> and <eos>)
    max_batch: int | None = None
    what, unit = "sequence", "tokens"

    def __init__(self, device: str, budget: TokenBudget, dtype: torch.dtype | None, dim: int) -> None:
        self.device, self.budget, self.dtype, self.dim = device, budget, dtype, dim
        self.batched = device.startswith("cuda")  # CPU: one sequence at a time, as upstream
        self.pin = device.startswith("cuda")  # pinned host memory and non-blocking copies
        self.masked_sum = device.startswith("cuda")  # row means as one masked sum (CPU: upstream's slice mean)
        self.phases = PhaseClock()  # the task hands in its own
        self.redone = 0  # batches redone in float32

    # -- what each model defines ------------------------------------------------------
    def _data(self, sequences: Sequence[str]) -> tuple[Any, list[int]]:
        raise NotImplementedError

    def _host(self, data: Any, batch: list[int]) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def _forward(self, host: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The model's (rows, tokens, dim) output for a batch on the device (under autocast)."""
        raise NotImplementedError

    def _reduce(self, hidden: torch.Tensor, host: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """(rows, dim) float32 means on the device (outside autocast: summed in float32)."""
        raise NotImplementedError

    def _module(self) -> nn.Module | None:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------
    def prepare(self, sequences: Sequence[str]) -> Prepared:
        """Tokens, batches and host tensors: host work only, safe in another thread."""
        data, lengths = self._data(sequences)
        if self.batched:
            batches = token_batches(lengths, self.budget.tokens, self.extra, self.max_batch)
        else:
            batches = [[i] for i in range(len(lengths))]
        prepared = Prepared(data, lengths, batches)
        for batch in batches:
            prepared.tensors[tuple(batch)] = self._host(data, batch)
        return prepared

    @torch.inference_mode()
    def run(self, prepared: Prepared, float32: bool = False) -> torch.Tensor:
        """(n, dim) float32 on CPU, rows in input order; ``float32``: every batch in full
        precision (the batches count as redone)."""
        out = torch.empty((len(prepared.lengths), self.dim), dtype=torch.float32)

        def one(batch: list[int]) -> None:
            host = prepared.tensors.pop(tuple(batch), None)
            if host is None:  # planned again after out-of-memory
                with self.phases.phase("cpu"):
                    host = self._host(prepared.data, batch)
            means = self._full_precision(host) if float32 else self._means(host, self.dtype)
            if not bool(torch.isfinite(means).all()) and not float32 and self.lower_precision():
                means = self._full_precision(host)
            finite = torch.isfinite(means).all(1)
            if not bool(finite.all()):
                raise NonFinite(self.name, batch[int((~finite).nonzero()[0, 0])])
            out[batch] = means

        if not self.batched:
            for batch in prepared.batches:
                one(batch)
        else:
            run_batched(prepared.lengths, self.budget, one, extra=self.extra, what=self.what, unit=self.unit,
                        device=self.device, max_batch=self.max_batch, planned=prepared.batches)
        return out

    def __call__(self, sequences: Sequence[str]) -> torch.Tensor:
        return self.run(self.prepare(sequences))

    def _means(self, host: tuple[torch.Tensor, ...], dtype: torch.dtype | None) -> torch.Tensor:
        host = tuple(t.to(self.device, non_blocking=self.pin) for t in host)
        with autocast(self.device, dtype):
            hidden = self._forward(host)
        return self._reduce(hidden, host).float().cpu()  # the one device-to-host copy (and wait) of the batch

    def lower_precision(self) -> bool:
        """Whether this model runs in less than float32 (autocast, or half weights)."""
        module = self._module()
        return self.dtype is not None or (module is not None and any(
            p.dtype in (torch.float16, torch.bfloat16) for p in module.parameters()))

    def _full_precision(self, host: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The batch in float32: no autocast, half weights upcast a module at a time."""
        self.redone += 1
        module = self._module()
        with full_precision(module) if module is not None else nullcontext():
            return self._means(host, None)

    def masked_mean(self, hidden: torch.Tensor, weights: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Each row's mean over the positions ``weights`` (rows, tokens; 1/0) marks:
        one batched matrix product instead of a slice and a mean per row."""
        summed = torch.bmm(weights.to(torch.float32).unsqueeze(1), hidden.float()).squeeze(1)
        return summed / counts.to(torch.float32).unsqueeze(1)


class ProteinEmbedder(Embedder):
    """``forward(tokens) -> (batch, tokens, dim)``: fair-esm's forward or esm_forward.EsmSdpa."""

    name, extra, what, unit = "ESM-2", 2, "protein", "residues"

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], alphabet: Any, dim: int,
                 device: str, budget: TokenBudget, dtype: torch.dtype | None = None) -> None:
        super().__init__(device, budget, dtype, dim)
        self.forward = forward
        self.tokens = EsmTokens(alphabet, ESM_MAX_RESIDUES)

    def _data(self, proteins: Sequence[str]) -> tuple[Any, list[int]]:
        return list(proteins), [min(len(p), ESM_MAX_RESIDUES) for p in proteins]

    def _host(self, proteins: list[str], batch: list[int]) -> tuple[torch.Tensor, ...]:
        tokens = self.tokens([proteins[i] for i in batch])
        counts = torch.tensor([min(len(proteins[i]), ESM_MAX_RESIDUES) for i in batch], dtype=torch.int64)
        return pinned(tokens, self.pin), pinned(counts, self.pin)

    def _forward(self, host: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.forward(host[0])

    def _reduce(self, reps: torch.Tensor, host: tuple[torch.Tensor, ...]) -> torch.Tensor:
        tokens, counts = host
        if not self.masked_sum:  # upstream's own reduction, row by row
            return torch.stack([reps[row, 1:int(n) + 1].float().mean(0) for row, n in enumerate(counts.tolist())])
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        weights = (positions >= 1) & (positions <= counts.unsqueeze(1))  # residues 1..n: not <cls>, <eos>, padding
        return self.masked_mean(reps, weights, counts)

    def _module(self) -> nn.Module | None:
        if isinstance(self.forward, nn.Module):  # EsmSdpa: it and the fair-esm model inside it
            return self.forward
        found = getattr(self.forward, "esm", None)  # FairEsmForward
        return found if isinstance(found, nn.Module) else None


class NucleotideEmbedder(Embedder):
    """``tokenizer``: dnabert_folder.DnaTokenizer; ``model``: dnabert.MosaicBert."""

    name, extra, what, unit = "DNABERT-S", 0, "DNA sequence", "tokens"
    max_batch = DNABERT_MAX_BATCH

    def __init__(self, tokenizer: Any, model: Any, device: str, budget: TokenBudget,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(device, budget, dtype, model.config.hidden_size)
        self.tokenizer, self.model = tokenizer, model

    def _data(self, sequences: Sequence[str]) -> tuple[Any, list[int]]:
        ids = self.tokenizer.ids(sequences)
        return ids, [len(x) for x in ids]

    def _host(self, ids: list[list[int]], batch: list[int]) -> tuple[torch.Tensor, ...]:
        rows, lengths = pad_rows([ids[i] for i in batch], self.tokenizer.pad_id)
        input_ids, counts = torch.from_numpy(rows), torch.from_numpy(lengths)
        if len(batch) == 1:  # upstream's call: input_ids alone (no mask, nothing padded)
            return pinned(input_ids, self.pin), pinned(counts, self.pin)
        mask = torch.arange(input_ids.shape[1]).unsqueeze(0) < counts.unsqueeze(1)
        return pinned(input_ids, self.pin), pinned(counts, self.pin), pinned(mask, self.pin)

    def _forward(self, host: tuple[torch.Tensor, ...]) -> torch.Tensor:
        input_ids, _counts, *mask = host
        return self.model(input_ids, mask[0] if mask else None)

    def _reduce(self, hidden: torch.Tensor, host: tuple[torch.Tensor, ...]) -> torch.Tensor:
        input_ids, counts, *mask = host
        if not self.masked_sum:  # each row's mean over its own tokens, as a batch of one does
            return torch.stack([hidden[row, :int(n)].float().mean(0) for row, n in enumerate(counts.tolist())])
        return self.masked_mean(hidden, mask[0] if mask else torch.ones_like(input_ids, dtype=torch.bool), counts)

    def _module(self) -> nn.Module | None:
        return self.model if isinstance(self.model, nn.Module) else None
