"""GPU memory never fails a unit: an out-of-memory batch halves the token budget and
is retried in place (injected on CPU: forwards that raise torch.cuda.OutOfMemoryError,
or the plain RuntimeError cuBLAS and the CUDA runtime raise, for batches over a size);
only a single sequence too big alone fails the unit. Clean batches grow the budget back."""

from __future__ import annotations

import random

import pytest
import torch

from virnucpro_bridge.hardware.devices import DeviceSpec
from virnucpro_bridge.tasks.virnucpro import VirNucProTask
from virnucpro_bridge.tasks.virnucpro.budget import (
    GROW_AFTER,
    MAX_TOKENS,
    MIN_TOKENS,
    SequenceTooLarge,
    TokenBudget,
    is_out_of_memory,
    run_batched,
    starting_budget,
)
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence

from .conftest import write_fasta
from .test_task import units_of


def test_starting_budget_follows_free_memory():
    gib = 2**30
    # ESM-2 3B (2560 wide) in bf16 with 20 GiB free: 0.5 * 20 GiB / (64 * 2560 * 2 / 2) bytes
    assert starting_budget(20 * gib, 2560, 2) == int(0.5 * 20 * gib / (64 * 2560))
    assert starting_budget(20 * gib, 2560, 4) == starting_budget(20 * gib, 2560, 2) // 2  # fp32: twice per token
    assert starting_budget(0, 2560, 2) == MIN_TOKENS
    assert starting_budget(1000 * gib, 768, 2) == MAX_TOKENS


def test_budget_halves_and_remembers():
    budget = TokenBudget(4096)
    budget.shrink(10_000)  # a batch bigger than the budget can only be a lone long sequence
    assert budget.tokens == 2048
    budget.shrink(600)  # a small last batch: half of what it held
    assert budget.tokens == 300 and budget.backoffs == 2
    assert budget.describe() == "300 tokens (from 4096; 2x out of memory)"


def test_budget_never_drops_below_one_sequence():
    budget = TokenBudget(4096)
    budget.shrink(2 * 900, floor=900)  # two 900-token sequences did not fit together
    assert budget.tokens == 900  # one of them still fits a batch of its own
    budget.shrink(900 + 400, floor=900)
    assert budget.tokens == 900


def test_budget_grows_back_after_clean_batches_up_to_where_it_started():
    budget = TokenBudget(4096)
    budget.shrink(4096)
    assert budget.tokens == 2048
    for _ in range(GROW_AFTER - 1):
        budget.succeeded()
    assert budget.tokens == 2048  # not yet
    budget.succeeded()
    assert 2048 < budget.tokens <= 2048 * 1.25 + 1
    for _ in range(20 * GROW_AFTER):
        budget.succeeded()
    assert budget.tokens == 4096 and budget.regrowths >= 3  # back where it started, never above
    assert budget.describe() == f"4096 tokens (from 4096; 1x out of memory, grown back {budget.regrowths}x)"
    budget.shrink(4096)
    for _ in range(GROW_AFTER - 1):
        budget.succeeded()
    budget.shrink(1000)  # an out-of-memory restarts the count
    before = budget.tokens
    budget.succeeded()
    assert budget.tokens == before


@pytest.mark.parametrize("exc, oom", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    (RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"), True),
    (RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"), True),
    (torch.AcceleratorError("CUDA error: out of memory"), True),
    (RuntimeError("CUDA error: an illegal memory access was encountered"), False),
    (ValueError("CUDA error: out of memory"), False),  # not what torch raises: a bug elsewhere
    (RuntimeError("shape mismatch"), False),
])
def test_out_of_memory_is_recognised_by_its_text_too(exc, oom):
    assert is_out_of_memory(exc) is oom


def test_a_plain_runtime_error_out_of_memory_backs_off_and_others_propagate():
    ran: list[list[int]] = []

    def run(batch):
        if len(batch) > 2:
            raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`")
        ran.append(batch)

    budget = TokenBudget(2000)
    run_batched([100] * 8, budget, run, extra=2, what="protein", unit="residues", device="cpu")
    assert sorted(i for b in ran for i in b) == list(range(8)) and budget.backoffs >= 1

    def broken(batch):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    with pytest.raises(RuntimeError, match="illegal memory access"):
        run_batched([100] * 8, TokenBudget(2000), broken, extra=2, what="protein", unit="residues", device="cpu")


def test_the_budget_regrows_within_a_long_run_of_batches():
    lengths = [98] * 400  # 100 tokens each
    budget = TokenBudget(1000)
    sizes: list[int] = []
    first = [True]

    def run(batch):
        if first[0] and len(batch) > 5:
            first[0] = False
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected, once)")
        sizes.append(len(batch))

    run_batched(lengths, budget, run, extra=2, what="protein", unit="residues", device="cpu")
    assert sum(sizes) == 400 and budget.backoffs == 1
    # The plan made after the back-off keeps its batch sizes; the next call plans with the regrown budget.
    assert budget.tokens > 500 and budget.regrowths >= 1
    later: list[int] = []
    run_batched(lengths, budget, lambda b: later.append(len(b)), extra=2, what="protein", unit="residues",
                device="cpu")
    assert max(later) > 5


def test_out_of_memory_batches_are_split_and_retried_in_place():
    lengths = [100] * 8 + [40] * 8
    ran: list[list[int]] = []

    def run(batch):
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        ran.append(batch)

    budget = TokenBudget(2000)
    run_batched(lengths, budget, run, extra=2, what="protein", unit="residues", device="cpu")
    assert sorted(i for b in ran for i in b) == list(range(16))  # every sequence exactly once
    assert budget.backoffs >= 1 and budget.tokens < 2000
    # the learned budget holds for the next call: no out-of-memory at all this time
    calls, backoffs = [], budget.backoffs
    run_batched(lengths, budget, lambda b: calls.append(b) or run(b), extra=2, what="protein",
                unit="residues", device="cpu")
    assert all(len(b) <= 2 for b in calls) and budget.backoffs == backoffs


def test_a_sequence_that_does_not_fit_alone_fails_with_its_length():
    def run(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")

    with pytest.raises(SequenceTooLarge, match=r"out of memory: a protein of 700 residues does not fit "
                                               r"even alone on cpu"):
        run_batched([700, 20, 30], TokenBudget(5000), run, extra=2, what="protein", unit="residues",
                    device="cpu")


class OomAbove:
    """Wraps a forward: raises CUDA out-of-memory for batches of more than ``limit`` sequences."""

    def __init__(self, forward, limit: int) -> None:
        self.forward, self.limit, self.raised = forward, limit, 0
        self.config = getattr(forward, "config", None)

    def __call__(self, ids, *args):
        if ids.shape[0] > self.limit:
            self.raised += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return self.forward(ids, *args)


@pytest.fixture
def batched_task(demo_models):
    """A CPU task on the CUDA code path: padded, token-budget batches."""
    task = VirNucProTask({"models": str(demo_models), "chunk_length": 500, "toks_per_batch": 4096})
    task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1))
    task.protein.batched = task.nucleotide.batched = True
    yield task
    task.teardown()


def _unit(tmp_path, n: int = 24, seed: int = 7):
    rng = random.Random(seed)
    path = write_fasta(tmp_path / f"r{seed}.fa", [(f"r{i}", coding_sequence(rng, rng.randint(200, 1400)))
                                                  for i in range(n)])
    return units_of(path, 10_000)[0]


@pytest.mark.slow
def test_unit_results_equal_an_uninjected_run(batched_task, tmp_path):
    unit = _unit(tmp_path)
    clean = tmp_path / "clean.tsv"
    batched_task.run_unit(unit, clean, lambda n: None)
    protein = OomAbove(batched_task.protein.forward, 3)
    nucleotide = OomAbove(batched_task.nucleotide.model, 5)
    batched_task.protein.forward, batched_task.nucleotide.model = protein, nucleotide
    injected = tmp_path / "injected.tsv"
    assert batched_task.run_unit(unit, injected, lambda n: None) == unit.count
    assert protein.raised and nucleotide.raised
    assert injected.read_bytes() == clean.read_bytes()
    notes = batched_task.notes()
    assert "out of memory" in notes["ESM-2 batch"] and "out of memory" in notes["DNABERT batch"]
    # the budget learned is kept: the next unit runs without a single out-of-memory
    protein.raised = nucleotide.raised = 0
    batched_task.run_unit(_unit(tmp_path, seed=8), tmp_path / "next.tsv", lambda n: None)
    assert protein.raised == nucleotide.raised == 0


@pytest.mark.slow
def test_a_frame_too_big_alone_fails_the_unit_saying_so(batched_task, tmp_path):
    batched_task.protein.forward = OomAbove(batched_task.protein.forward, 0)
    output = tmp_path / "out.tsv"
    with pytest.raises(SequenceTooLarge, match=r"a protein of \d+ residues does not fit even alone on cpu"):
        batched_task.run_unit(_unit(tmp_path, n=3), output, lambda n: None)
    assert not output.exists()
