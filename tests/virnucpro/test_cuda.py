"""On a CUDA GPU only (skipped elsewhere; scripts/gpu_check.sh runs them): dtypes by the
device's capability, weights stored in that dtype, SDPA forwards against the CPU path,
a real out-of-memory back-off under a memory cap, and NVML readings."""

from __future__ import annotations

import random
import time

import pytest
import torch

from virnucpro_bridge.hardware.devices import DeviceSpec
from virnucpro_bridge.tasks.virnucpro import VirNucProTask
from virnucpro_bridge.tasks.virnucpro.budget import TokenBudget
from virnucpro_bridge.tasks.virnucpro.embeddings import NucleotideEmbedder, ProteinEmbedder
from virnucpro_bridge.tasks.virnucpro.esm_forward import EsmSdpa, FairEsmForward
from virnucpro_bridge.tasks.virnucpro.precision import EMBEDDING_TOLERANCE, compute_dtype

from .test_task import DEMO_DATA, run_file

pytestmark = [pytest.mark.cuda, pytest.mark.slow]
DEVICE = "cuda:0"
FP32_TOLERANCE = 1e-4  # CUDA float32 kernels sum in other orders than CPU ones


def _proteins(n: int, length: int | None = None, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(length or rng.randint(20, 300)))
            for _ in range(n)]


def _esm(layers: int = 4, dim: int = 320, heads: int = 20):
    from esm.model.esm2 import ESM2

    torch.manual_seed(0)
    return ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet="ESM-1b").eval()


def test_dtype_follows_this_gpus_capability():
    major, minor = torch.cuda.get_device_capability(0)
    assert compute_dtype(DEVICE) is (torch.bfloat16 if (major, minor) >= (8, 0) else torch.float16)


def test_task_on_the_gpu_matches_cpu(demo_models, tmp_path):
    cpu = VirNucProTask({"models": str(demo_models), "chunk_length": 500})
    cpu.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=1))
    gpu = VirNucProTask({"models": str(demo_models), "chunk_length": 500})
    gpu.setup(DeviceSpec(0, "cuda", torch.cuda.get_device_name(0), 1.0, ordinal=0))
    dtype = compute_dtype(DEVICE)
    assert gpu.notes()["precision"] in ("bf16", "fp16")
    for model in (gpu.pipeline.nucleotide.model, gpu.pipeline.protein.forward.esm):
        assert {p.dtype for p in model.parameters()} == {dtype}  # stored in the compute dtype
        assert all(p.is_cuda for p in model.parameters())
    path = DEMO_DATA / "tiny_sample.fa"
    rows = [[line.split("\t") for line in run_file(t, path, tmp_path / n)["prediction_results.txt"].decode()
             .splitlines()[1:]] for t, n in ((cpu, "cpu"), (gpu, "gpu"))]
    assert [r[0] for r in rows[0]] == [r[0] for r in rows[1]]
    # half precision on random weights
    assert max(abs(float(a[3]) - float(b[3])) for a, b in zip(*rows, strict=True)) < 0.05


def test_dnabert_sdpa_on_cuda_matches_cpu(demo_models):
    from virnucpro_bridge.tasks.virnucpro.dnabert_folder import load

    tokenizer, cpu_model = load(demo_models / "dnabert", "cpu", kernel="matmul")
    dna = ["".join(random.Random(i).choice("ACGT") for _ in range(random.Random(i).randint(50, 500)))
           for i in range(40)]
    expected = NucleotideEmbedder(tokenizer, cpu_model, "cpu", TokenBudget(4096))(dna)
    for dtype in (None, compute_dtype(DEVICE)):
        _, model = load(demo_models / "dnabert", DEVICE, dtype, kernel="sdpa")
        got = NucleotideEmbedder(tokenizer, model, DEVICE, TokenBudget(4096), dtype)(dna)
        error = ((got - expected).abs().max() / expected.abs().max()).item()
        assert error <= (FP32_TOLERANCE if dtype is None else EMBEDDING_TOLERANCE[dtype])


def test_esm_sdpa_on_cuda_matches_fair_esm_on_cpu():
    cpu_model = _esm()
    proteins = _proteins(40)
    expected = ProteinEmbedder(FairEsmForward(cpu_model), cpu_model.alphabet, 320, "cpu", TokenBudget(4096))(proteins)
    for dtype in (None, compute_dtype(DEVICE)):
        model = _esm().to(device=DEVICE, dtype=dtype or torch.float32)
        got = ProteinEmbedder(EsmSdpa(model), model.alphabet, 320, DEVICE, TokenBudget(4096), dtype)(proteins)
        error = ((got - expected).abs().max() / expected.abs().max()).item()
        assert error <= (FP32_TOLERANCE if dtype is None else EMBEDDING_TOLERANCE[dtype])


def test_real_out_of_memory_backs_off_under_a_memory_cap():
    dtype = compute_dtype(DEVICE)
    model = _esm(6, 640, 20).to(device=DEVICE, dtype=dtype)
    proteins = _proteins(256, 1000, seed=1)
    safe = ProteinEmbedder(EsmSdpa(model), model.alphabet, 640, DEVICE, TokenBudget(8192), dtype)(proteins)
    torch.cuda.empty_cache()
    dev = torch.device(DEVICE)
    cap = torch.cuda.memory_allocated(dev) + 512 * 2**20
    budget = TokenBudget(10_000_000)
    torch.cuda.set_per_process_memory_fraction(cap / torch.cuda.get_device_properties(dev).total_memory, dev)
    try:
        got = ProteinEmbedder(EsmSdpa(model), model.alphabet, 640, DEVICE, budget, dtype)(proteins)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, dev)
    assert budget.backoffs >= 1 and budget.tokens < 256 * 1002
    assert ((got - safe).abs().max() / safe.abs().max()).item() <= EMBEDDING_TOLERANCE[dtype]


def test_nvml_reads_this_gpu():
    from virnucpro_bridge.hardware.nvml import NvmlSampler

    sampler = NvmlSampler(0)
    try:
        reading = sampler.read()
    finally:
        sampler.close()
    assert reading.memory is not None and 0 <= reading.memory <= 100


def test_cuda_batches_use_pinned_memory_and_one_masked_sum_equal_to_row_means():
    """The batched path's host tensors are pinned, and the masked sum on the device gives
    each row's mean over its own positions (the per-row slices, within float32 rounding)."""
    model = _esm().to(DEVICE)
    proteins = _proteins(60, seed=3)
    embed = ProteinEmbedder(EsmSdpa(model), model.alphabet, 320, DEVICE, TokenBudget(4096))
    prepared = embed.prepare(proteins)
    assert all(t.is_pinned() for host in prepared.tensors.values() for t in host)
    fused = embed.run(prepared)
    embed.masked_sum = False  # the same batches, reduced row by row
    rows = embed(proteins)
    assert ((fused - rows).abs().max() / rows.abs().max()).item() <= FP32_TOLERANCE


def test_a_half_precision_overflow_is_redone_in_float32_on_the_gpu():
    """fp16's range ends at 65504: a layer whose activations pass it gives inf in fp16 and
    finite values in float32. The batch is redone (counted), the result is finite, and the
    weights stay fp16 afterwards."""
    cpu_model = _esm()
    with torch.no_grad():
        cpu_model.layers[0].fc1.weight.mul_(1e5)  # activations far beyond fp16's range
    proteins = _proteins(16, seed=4)
    expected = ProteinEmbedder(EsmSdpa(cpu_model), cpu_model.alphabet, 320, "cpu", TokenBudget(4096))(proteins)
    assert bool(torch.isfinite(expected).all())
    model = _esm().to(DEVICE)
    model.load_state_dict(cpu_model.state_dict())
    model = model.half()
    embed = ProteinEmbedder(EsmSdpa(model), model.alphabet, 320, DEVICE, TokenBudget(4096), torch.float16)
    got = embed(proteins)
    assert embed.redone >= 1 and bool(torch.isfinite(got).all())
    assert {p.dtype for p in model.parameters()} == {torch.float16}
    assert ((got - expected).abs().max() / expected.abs().max()).item() <= 1e-2  # fp16 weights, fp32 compute


def test_prefetch_gives_the_same_bytes_on_the_gpu(demo_models, tmp_path):
    gpu = VirNucProTask({"models": str(demo_models), "chunk_length": 500})
    gpu.setup(DeviceSpec(0, "cuda", torch.cuda.get_device_name(0), 1.0, ordinal=0))
    path = DEMO_DATA / "hospital_swab.fa.gz"
    gpu.options["prefetch"] = False
    inline = run_file(gpu, path, tmp_path / "inline")
    gpu.options["prefetch"] = True
    gpu.phases.restart()
    ahead = run_file(gpu, path, tmp_path / "ahead")
    assert inline == ahead
    split = gpu.phases.totals()
    assert split["gpu"] > 0 and gpu.counts() == {"fp32_redone_batches": 0}


def test_the_energy_counter_reads_this_gpu():
    from virnucpro_bridge.hardware.energy import EnergyMeter
    from virnucpro_bridge.hardware.nvml import NvmlSampler

    sampler = NvmlSampler(0)
    try:
        meter = EnergyMeter(sampler)
        x = torch.randn(4096, 4096, device=DEVICE)
        for _ in range(50):
            x = (x @ x).tanh()
        torch.cuda.synchronize()
        joules = meter.read(sampler.read().power, time.monotonic())
    finally:
        sampler.close()
    assert meter.source in ("counter", "power")
    assert joules is None or joules >= 0.0  # None only when the GPU reports neither
