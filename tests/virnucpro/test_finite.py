"""No NaN or infinity is ever written: a batch whose embeddings (or scores) are not finite
is redone in float32; if it still is not, the unit fails naming the record, writing nothing.

Injected on CPU: a forward wrapper holding one bfloat16 weight (so the batch ran in "half
precision") that returns NaN, or huge values, for one chosen frame unless full_precision
upcast it; or NaN whatever the precision."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from virnucpro_bridge.hardware.devices import DeviceSpec
from virnucpro_bridge.tasks.virnucpro import VirNucProTask
from virnucpro_bridge.tasks.virnucpro import task as task_module
from virnucpro_bridge.tasks.virnucpro.budget import TokenBudget
from virnucpro_bridge.tasks.virnucpro.embeddings import NonFinite, ProteinEmbedder
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence, random_sequence
from virnucpro_bridge.tasks.virnucpro.task import NonFiniteOutput

from .conftest import write_fasta
from .test_task import units_of


class Poisoned(nn.Module):
    """Wraps a forward; rows whose tokens are ``target``'s come out as ``value`` (NaN, 1e38)
    while the wrapper's own weight is bfloat16, or always when ``always``."""

    def __init__(self, inner, target: torch.Tensor, value: float, always: bool = False,
                 float32_value: float | None = None) -> None:
        super().__init__()
        self.inner, self.target, self.value, self.always = inner, target, value, always
        self.float32_value = float32_value  # what the row becomes in float32, when not ``value``
        self.weight = nn.Parameter(torch.zeros(1, dtype=torch.bfloat16), requires_grad=False)
        self.poisoned = 0

    def forward(self, tokens, *args):
        out = self.inner(tokens, *args)
        full = self.weight.dtype == torch.float32
        if full and not self.always and self.float32_value is None:
            return out  # inside full_precision: the forward is fine
        value = self.float32_value if full and self.float32_value is not None else self.value
        n = len(self.target)
        for row in range(tokens.shape[0]):
            if tokens.shape[1] >= n and torch.equal(tokens[row, :n], self.target) and (
                    tokens.shape[1] == n or tokens[row, n] in (2, 0)):  # the end: <eos>/[SEP]-less pad
                out = out.clone()
                out[row] = value
                self.poisoned += 1
        return out


def test_a_non_finite_batch_is_redone_in_float32_and_counted():
    from esm.model.esm2 import ESM2

    from virnucpro_bridge.tasks.virnucpro.esm_forward import FairEsmForward

    torch.manual_seed(0)
    esm = ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet="ESM-1b").eval()
    proteins = ["MKVLAAGHT", "MKKLLPQ", "MSTNPKPQRKTKRNTNRRPQDVKFPGG"]
    clean = ProteinEmbedder(FairEsmForward(esm), esm.alphabet, 32, "cpu", TokenBudget(4096))(proteins)
    target = ProteinEmbedder(FairEsmForward(esm), esm.alphabet, 32, "cpu", TokenBudget(4096)).tokens([proteins[1]])
    for batched in (False, True):
        poisoned = Poisoned(FairEsmForward(esm), target[0, :-1], float("nan"))
        embed = ProteinEmbedder(poisoned, esm.alphabet, 32, "cpu", TokenBudget(4096))
        embed.batched = batched
        got = embed(proteins)
        assert poisoned.poisoned == 1 and embed.redone == 1
        assert torch.allclose(got, clean, atol=1e-6) and bool(torch.isfinite(got).all())
        assert {p.dtype for p in poisoned.parameters()} == {torch.bfloat16}  # upcast only while it ran

        always = Poisoned(FairEsmForward(esm), target[0, :-1], float("inf"), always=True)
        embed = ProteinEmbedder(always, esm.alphabet, 32, "cpu", TokenBudget(4096))
        embed.batched = batched
        with pytest.raises(NonFinite) as info:
            embed(proteins)
        assert info.value.index == 1 and info.value.model == "ESM-2" and embed.redone == 1


@pytest.fixture
def task(demo_models):
    task = VirNucProTask({"models": str(demo_models), "chunk_length": 500, "toks_per_batch": 4096})
    task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1))
    yield task
    task.teardown()


def _unit(tmp_path, monkeypatch):
    """12 records; every third is non-coding (its chunks keep no frame: rows without a prediction
    sit between the frames, so a frame's position in a block is not its row's)."""
    monkeypatch.setattr(task_module, "BLOCK_FRAMES", 16)  # several blocks, several batches
    rng = random.Random(11)
    records = [(f"rec{i}", random_sequence(rng, 900) if i % 3 == 1 else coding_sequence(rng, rng.randint(300, 1100)))
               for i in range(12)]
    path = write_fasta(tmp_path / "in.fa", records)
    return units_of(path, 10_000)[0]


def _target(task, tmp_path, unit, record: str, model: str) -> torch.Tensor:
    """The tokens (without the end token) of ``record``'s first kept frame, as ``model`` sees them."""
    from virnucpro_bridge.inputs.units import read_unit
    from virnucpro_bridge.tasks.virnucpro.chunking import chunk_record
    from virnucpro_bridge.tasks.virnucpro.translation import identify_frames

    seq = next(r.sequence for r in read_unit(unit) if r.id == record)
    frame = next(f for cid, chunk in chunk_record(record, seq, 500) for f in identify_frames(cid, chunk))
    if model == "protein":
        return task.protein.tokens([frame.protein])[0, :-1]
    return torch.tensor(task.nucleotide.tokenizer.ids([frame.nucleotide])[0][:-1])


@pytest.mark.parametrize("batched", [False, True])
def test_nan_in_half_precision_is_redone_and_the_bytes_are_those_of_a_clean_run(task, tmp_path, monkeypatch,
                                                                                batched):
    unit = _unit(tmp_path, monkeypatch)
    task.protein.batched = task.nucleotide.batched = batched
    clean = tmp_path / "clean.tsv"
    task.run_unit(unit, clean, lambda n: None)
    poisoned = Poisoned(task.protein.forward, _target(task, tmp_path, unit, "rec8", "protein"), float("nan"))
    task.protein.forward = poisoned
    out = tmp_path / "redone.tsv"
    assert task.run_unit(unit, out, lambda n: None) == unit.count
    assert poisoned.poisoned >= 1 and task.counts() == {"fp32_redone_batches": 1}
    assert out.read_bytes() == clean.read_bytes()
    assert b"nan" not in out.read_bytes()


class Overflowing(nn.Module):
    """The classifier, giving NaN scores for rows with a feature beyond 1e30 (as a half-precision
    classifier would overflow): finite but huge embeddings reach it that way."""

    def __init__(self, inner) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        out = self.inner(x)
        out[x.abs().amax(1) > 1e30] = float("nan")
        return out


def test_scores_not_finite_from_half_embeddings_are_rescored_from_float32_ones(task, tmp_path, monkeypatch):
    unit = _unit(tmp_path, monkeypatch)
    clean = tmp_path / "clean.tsv"
    task.run_unit(unit, clean, lambda n: None)
    huge = Poisoned(task.nucleotide.model, _target(task, tmp_path, unit, "rec3", "dna"), 1e33)  # finite mean
    huge.config = task.nucleotide.model.config
    task.nucleotide.model = huge
    task.classifier = Overflowing(task.classifier)
    out = tmp_path / "rescored.tsv"
    task.run_unit(unit, out, lambda n: None)
    assert huge.poisoned >= 1
    assert task.counts() == {"fp32_redone_batches": 2}  # the rescored rows' batch, once per model
    assert out.read_bytes() == clean.read_bytes()


@pytest.mark.parametrize("prefetch", [True, False])
def test_nan_even_in_float32_fails_the_unit_naming_the_record_and_writes_nothing(task, tmp_path, monkeypatch,
                                                                                 prefetch):
    unit = _unit(tmp_path, monkeypatch)
    task.options["prefetch"] = prefetch
    task.protein.forward = Poisoned(task.protein.forward, _target(task, tmp_path, unit, "rec5", "protein"),
                                    float("nan"), always=True)
    out = tmp_path / "failed.tsv"
    with pytest.raises(NonFiniteOutput) as info:
        task.run_unit(unit, out, lambda n: None)
    message = str(info.value)
    assert "record 'rec5'" in message and "ESM-2" in message and "float32" in message and "\n" not in message
    assert "in.fa" in message and not out.exists()


def test_an_fp16_overflow_in_esm_sdpa_is_redone_with_its_fused_weights_in_float32():
    """The SDPA forward's fused q|k|v weight is no module's parameter: full precision must
    upcast it too (on CPU here; tests/virnucpro/test_cuda.py does the same on a GPU)."""
    from esm.model.esm2 import ESM2

    from virnucpro_bridge.tasks.virnucpro.esm_forward import EsmSdpa

    torch.manual_seed(0)
    reference = ESM2(num_layers=2, embed_dim=64, attention_heads=4, alphabet="ESM-1b").eval()
    with torch.no_grad():
        reference.layers[0].fc1.weight.mul_(1e5)  # activations far beyond fp16's range (65504)
    rng = random.Random(4)
    proteins = ["".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(20, 200))) for _ in range(8)]
    expected = ProteinEmbedder(EsmSdpa(reference), reference.alphabet, 64, "cpu", TokenBudget(4096))(proteins)
    half = ESM2(num_layers=2, embed_dim=64, attention_heads=4, alphabet="ESM-1b").eval()
    half.load_state_dict(reference.state_dict())
    half = half.half()
    embed = ProteinEmbedder(EsmSdpa(half), half.alphabet, 64, "cpu", TokenBudget(4096), torch.float16)
    embed.batched = True
    got = embed(proteins)
    assert embed.redone >= 1 and bool(torch.isfinite(got).all())
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-2  # fp16-rounded weights
    assert {p.dtype for p in half.parameters()} == {torch.float16}
    assert not EsmSdpa(half).in_full_precision


@pytest.mark.parametrize("float32_value, model", [(1e33, "the classifier"), (float("nan"), "DNABERT-S")])
def test_scores_still_not_finite_from_float32_embeddings_fail_naming_the_record(task, tmp_path, monkeypatch,
                                                                                float32_value, model):
    """Huge embeddings give NaN scores; from float32 ones the scores (or the float32 embeddings
    themselves) are still not finite: the record is named, nothing written."""
    unit = _unit(tmp_path, monkeypatch)
    huge = Poisoned(task.nucleotide.model, _target(task, tmp_path, unit, "rec9", "dna"), 1e33,
                    float32_value=float32_value)
    huge.config = task.nucleotide.model.config
    task.nucleotide.model = huge
    task.classifier = Overflowing(task.classifier)
    out = tmp_path / "failed.tsv"
    with pytest.raises(NonFiniteOutput) as info:
        task.run_unit(unit, out, lambda n: None)
    assert "record 'rec9'" in str(info.value) and model in str(info.value) and not out.exists()
