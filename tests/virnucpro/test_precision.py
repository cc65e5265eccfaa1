"""Dtypes by compute capability (no bf16 where it is only emulated), and how far
half-precision weights move the embeddings from float32 (precision.EMBEDDING_TOLERANCE)."""

from __future__ import annotations

import random

import pytest
import torch

from virnucpro_bridge.hardware.devices import DeviceSpec
from virnucpro_bridge.tasks.virnucpro import VirNucProTask, loading
from virnucpro_bridge.tasks.virnucpro.budget import TokenBudget
from virnucpro_bridge.tasks.virnucpro.demo_models import DemoSpec, init_demo
from virnucpro_bridge.tasks.virnucpro.embeddings import ProteinEmbedder
from virnucpro_bridge.tasks.virnucpro.esm_forward import EsmSdpa, FairEsmForward
from virnucpro_bridge.tasks.virnucpro.loading import load_pipeline
from virnucpro_bridge.tasks.virnucpro.models import locate
from virnucpro_bridge.tasks.virnucpro.precision import EMBEDDING_TOLERANCE, compute_dtype
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence
from virnucpro_bridge.tasks.virnucpro.translation import six_frames


@pytest.fixture
def gpu_of(monkeypatch):
    """Pretend cuda devices have ``capability``; bf16 "support" says yes even where emulated."""

    def set_capability(capability: tuple[int, int]) -> None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # must not be trusted

    return set_capability


@pytest.mark.parametrize("capability, expected", [
    ((6, 0), torch.float16),  # P100
    ((7, 0), torch.float16),  # V100: bf16 only emulated
    ((7, 5), torch.float16),  # T4, RTX 20xx
    ((8, 0), torch.bfloat16),  # A100
    ((8, 6), torch.bfloat16),  # RTX 30xx, A40
    ((9, 0), torch.bfloat16),  # H100
])
def test_dtype_follows_compute_capability(gpu_of, capability, expected):
    gpu_of(capability)
    assert compute_dtype("cuda:0") is expected
    assert compute_dtype("cuda:0", enabled=False) is None  # --no-autocast
    assert compute_dtype("cpu") is None


@pytest.mark.slow
def test_worker_setup_asks_for_the_capability_dtype(gpu_of, demo_models, monkeypatch):
    """Setup on a (pretend) sm75 GPU loads the models in fp16; the device itself is CPU here."""
    seen = {}

    def fake_load(paths, device, dtype=None, toks_per_batch=None):
        seen["dtype"] = dtype
        return load_pipeline(paths, "cpu", dtype, toks_per_batch)

    gpu_of((7, 5))
    monkeypatch.setattr(torch.cuda, "set_device", lambda ordinal: None)
    monkeypatch.setattr(loading, "load_pipeline", fake_load)
    monkeypatch.setattr(DeviceSpec, "torch_device", property(lambda self: "cuda:0"))
    task = VirNucProTask({"models": str(demo_models), "chunk_length": 500, "toks_per_batch": 512})
    task.setup(DeviceSpec(0, "cuda", "Tesla T4", 1.0, ordinal=0))
    assert seen["dtype"] is torch.float16
    assert task.notes()["precision"] == "fp16"
    assert all(p.dtype == torch.float16 for p in task.pipeline.nucleotide.model.parameters())


@pytest.fixture(scope="module")
def mid_models(tmp_path_factory):
    """Deeper and wider than the demo models: rounding has layers to accumulate over."""
    spec = DemoSpec(esm_layers=6, esm_dim=320, esm_heads=20, bert_layers=4, bert_hidden=96, bert_heads=12,
                    bert_intermediate=192)
    return init_demo(tmp_path_factory.mktemp("mid") / "models", spec)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_weights_stay_within_the_documented_tolerance(mid_models, dtype):
    rng = random.Random(0)
    dna = [coding_sequence(rng, 500).upper() for _ in range(12)]
    proteins = [p for s in dna for p in six_frames(s) if p and "*" not in p][:20]
    paths = locate(mid_models, 500)
    full = load_pipeline(paths, "cpu")
    half = load_pipeline(paths, "cpu", dtype)
    esm = half.protein.forward.esm  # CPU: fair-esm's own forward
    assert isinstance(half.protein.forward, FairEsmForward)
    for model in (esm, half.nucleotide.model):
        assert all(p.dtype == dtype for p in model.parameters())
    sdpa = ProteinEmbedder(EsmSdpa(esm), esm.alphabet, half.protein.dim, "cpu", TokenBudget(1024), dtype)
    sdpa.batched = True  # the CUDA path: SDPA forward, padded batches
    cases = [(half.nucleotide, dna, full.nucleotide(dna)), (half.protein, proteins, full.protein(proteins)),
             (sdpa, proteins, full.protein(proteins))]
    for embedder, inputs, reference in cases:
        error = ((embedder(inputs) - reference).abs().max() / reference.abs().max()).item()
        assert 0 < error <= EMBEDDING_TOLERANCE[dtype], (type(embedder).__name__, error)

