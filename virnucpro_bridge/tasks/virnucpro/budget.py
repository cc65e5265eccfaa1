"""Token budgets for padded GPU batches, and backing off when GPU memory runs out.

A budget is the most tokens (padded width x sequences) one batch may hold. It
starts from the memory left free once the models are loaded (``starting_budget``,
docs/gpu.md "GPU memory"), or from ``--toks-per-batch``.

Rules: a CUDA out-of-memory error inside a batch never fails the unit: the cache
is freed, the budget drops to half of that batch's tokens (never below its
widest sequence), and the batch and those after it are planned again, down to
one sequence a batch; only a sequence that does not fit alone fails the unit.
After ``GROW_AFTER`` batches in a row without one, the budget grows by
``GROW_FACTOR`` again, up to where it started, so a moment's pressure does not
slow the rest of the worker's life. An out-of-memory error is known by its class
and by its text (cuBLAS, cuDNN and the CUDA runtime raise plain ``RuntimeError``:
``is_out_of_memory``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import torch

FREE_FRACTION = 0.5  # half the free memory: the caching allocator fragments, and other processes share the GPU
BYTES_PER_TOKEN_PER_DIM = 64  # live activations per token per hidden unit at 2-byte dtypes (~30 counted, x2 margin)
MIN_TOKENS = 1024  # below this a batch is a handful of sequences: no gain from batching left
MAX_TOKENS = 65536  # a unit's frames come 512 at a time (task.BLOCK_FRAMES): more never fills up
GROW_AFTER = 20  # clean batches in a row before the budget grows back: a few seconds of work on any GPU
GROW_FACTOR = 1.25  # regrows from half to full in 4 steps (80 batches): a repeat OOM costs ~1 batch in 80
# Allocation failures that arrive as a plain RuntimeError (or AcceleratorError) rather than OutOfMemoryError.
OOM_MARKERS = ("CUDA out of memory", "CUDA error: out of memory", "CUBLAS_STATUS_ALLOC_FAILED",
               "CUDNN_STATUS_ALLOC_FAILED", "cudaErrorMemoryAllocation")


def starting_budget(free_bytes: int, hidden: int, dtype_bytes: int) -> int:
    """Tokens per batch for ``free_bytes`` of free GPU memory and the widest model's hidden size."""
    per_token = BYTES_PER_TOKEN_PER_DIM * hidden * dtype_bytes / 2
    return int(max(MIN_TOKENS, min(MAX_TOKENS, FREE_FRACTION * free_bytes / per_token)))


class SequenceTooLarge(RuntimeError):
    """One sequence alone does not fit in the device's memory."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device allocation failure, whatever class it arrived as."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(marker in text for marker in OOM_MARKERS)


class TokenBudget:
    """One model's token budget on one device: halved on out-of-memory, regrown after clean batches."""

    def __init__(self, tokens: int) -> None:
        self.tokens = max(1, int(tokens))
        self.initial = self.tokens
        self.backoffs = 0  # out-of-memory errors recovered from
        self.regrowths = 0  # times it grew back
        self.clean = 0  # batches in a row without out-of-memory

    def shrink(self, batch_tokens: int, floor: int = 1) -> None:
        """Half of ``batch_tokens`` (what the failed batch held), not below ``floor``
        (its widest sequence: a budget smaller than one sequence only splits shorter ones)."""
        self.tokens = max(1, floor, min(self.tokens, batch_tokens) // 2)
        self.backoffs += 1
        self.clean = 0

    def succeeded(self) -> None:
        """One batch ran: after ``GROW_AFTER`` in a row, grow back toward the start."""
        self.clean += 1
        if self.clean >= GROW_AFTER and self.tokens < self.initial:
            self.tokens = min(self.initial, int(self.tokens * GROW_FACTOR) + 1)
            self.regrowths += 1
            self.clean = 0

    def describe(self) -> str:
        if not self.backoffs:
            return f"{self.tokens} tokens"
        grown = f", grown back {self.regrowths}x" if self.regrowths else ""
        return f"{self.tokens} tokens (from {self.initial}; {self.backoffs}x out of memory{grown})"


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


def free_cache() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def device_memory(device: str) -> str:
    """'NVIDIA T4, 14.6 GiB, 0.3 GiB free' for a CUDA device; the device name otherwise."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return device
    free, total = torch.cuda.mem_get_info(torch.device(device))
    name = torch.cuda.get_device_name(torch.device(device))
    return f"{device} ({name}, {total / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free)"


def run_batched(lengths: Sequence[int], budget: TokenBudget, run: Callable[[list[int]], None], *,
                extra: int, what: str, unit: str, device: str, max_batch: int | None = None,
                planned: Sequence[list[int]] | None = None) -> None:
    """Call ``run`` on batches of indices covering ``lengths`` within ``budget``
    (``planned``: batches already planned, e.g. by a prefetch thread), backing
    off on out-of-memory as the module docstring says."""
    plan = deque(planned if planned is not None else token_batches(lengths, budget.tokens, extra, max_batch))
    while plan:
        batch = plan.popleft()
        try:
            run(batch)
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is an allocation failure
            if not is_out_of_memory(exc):
                raise
            # handled below, once the exception (and the tensors its frames hold) is gone
        else:
            budget.succeeded()
            continue
        free_cache()
        if len(batch) == 1:
            raise SequenceTooLarge(f"out of memory: a {what} of {lengths[batch[0]]} {unit} does not fit "
                                   f"even alone on {device_memory(device)}")
        width = max(lengths[i] for i in batch) + extra
        budget.shrink(width * len(batch), floor=width)
        rest = batch + [i for b in plan for i in b]
        replanned = token_batches([lengths[i] for i in rest], budget.tokens, extra, max_batch)
        plan = deque([rest[j] for j in b] for b in replanned)
