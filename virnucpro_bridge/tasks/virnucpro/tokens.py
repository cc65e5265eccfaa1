"""Token tensors for a batch, built with numpy instead of per-character Python.

ESM-2: :class:`EsmTokens` gives exactly fair-esm's ``BatchConverter(alphabet,
1024)`` tokens (``<cls>`` + one token per residue, truncated to 1024 + ``<eos>``,
padded with ``<pad>``) through a 256-entry byte lookup table, where fair-esm's
converter splits each string on each of its 33 special tokens in turn. A string
holding anything but the alphabet's single-letter tokens (``<mask>``, whitespace,
lower case, non-ASCII) goes through fair-esm's own converter, so the tokens, and
fair-esm's errors, are always its own.

DNABERT-S: :func:`pad_rows` lays token id lists into one padded (rows, width)
array with its 1/0 mask in one vectorised assignment.

On CUDA the tensors come back in pinned memory, so the copy to the GPU can be
``non_blocking`` and overlap the host's next step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

UNKNOWN = -1  # in the lookup table: a byte fair-esm would not read as a one-letter token


def pinned(tensor: torch.Tensor, pin: bool) -> torch.Tensor:
    """``tensor`` in page-locked memory when ``pin`` (only where CUDA is: pinning needs a driver)."""
    return tensor.pin_memory() if pin else tensor


def pad_rows(rows: Sequence[Sequence[int]] | Sequence[np.ndarray], pad: int, lead: int = 0,
             trail: int | None = None, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, lengths): ``rows`` laid out left-aligned in an int64 (len(rows), width) array
    filled with ``pad``, after ``lead`` leading columns (left to the caller) and with
    ``trail`` written after each row when given."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    extra = lead + (trail is not None)
    width = int(lengths.max(initial=0)) + extra if width is None else width
    out = np.full((len(rows), width), pad, dtype=np.int64)
    if len(rows) and lengths.sum():
        flat = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
        columns = np.arange(width - lead)
        out[:, lead:][columns[None, :] < lengths[:, None]] = flat  # row-major: each row's ids in order
    if trail is not None:
        out[np.arange(len(rows)), lengths + lead] = trail
    return out, lengths


class EsmTokens:
    """fair-esm's batch conversion for ``alphabet`` (ESM-2's: prepend ``<cls>``, append ``<eos>``)."""

    def __init__(self, alphabet: Any, truncation: int) -> None:
        self.alphabet, self.truncation = alphabet, truncation
        self.reference = alphabet.get_batch_converter(truncation)
        self.table = np.full(256, UNKNOWN, dtype=np.int64)
        for token, index in alphabet.tok_to_idx.items():
            if len(token) == 1 and token.isascii() and not token.isspace() and token != "<":
                self.table[ord(token)] = index
        self.simple = bool(alphabet.prepend_bos and alphabet.append_eos)

    def __call__(self, proteins: Sequence[str]) -> torch.Tensor:
        """(len(proteins), longest + 2) int64 tokens, as fair-esm's converter makes them."""
        encoded = self._encode(proteins) if self.simple else None
        if encoded is None:
            _, _, tokens = self.reference([(str(i), p) for i, p in enumerate(proteins)])
            return tokens
        a = self.alphabet
        ids, _ = pad_rows(encoded, a.padding_idx, lead=1, trail=a.eos_idx)
        ids[:, 0] = a.cls_idx
        return torch.from_numpy(ids)

    def _encode(self, proteins: Sequence[str]) -> list[np.ndarray] | None:
        """Each protein's token ids (truncated), or None when one needs fair-esm's own tokenizer."""
        out = []
        for protein in proteins:
            if not protein.isascii():
                return None
            ids = self.table[np.frombuffer(protein.encode("ascii"), dtype=np.uint8)]
            if len(ids) and ids.min() == UNKNOWN:
                return None
            out.append(ids[: self.truncation])
        return out
