"""The GPU check's measurements and numeric checks (scripts/gpu_check.sh): nothing downloaded.

One table, a row per model, dtype and forward: sequences/s, tokens/s, peak
memory (torch's allocator) and GPU utilisation (NVML, sampled while the row
was measured), with fair-esm's own forward beside ours on the same GPU:

    DNABERT-S     real size (12 x 768, 12 heads), random weights: SDPA and matmul attention
    ESM-2 3B      3B-shaped (36 x 2560, 40 heads), random weights built on the GPU:
                  our SDPA forward and fair-esm's, fp32 and bf16/fp16 by capability

Then the checks, each PASS or FAIL (exit 1 when one fails): every embedding
finite; CUDA against CPU float32 within the CUDA tests' tolerances (float32:
1e-4 of the largest value; bf16/fp16: ``EMBEDDING_TOLERANCE``); the OOM
back-off under a memory cap recovering (it backed off, and its embeddings
match a run that never ran out of memory).

``--device cpu --small`` runs every section on CPU with tiny shapes (out of
memory injected): CI and the tests run it, so this file is exercised without
a GPU.

    python benchmarks/gpu_check.py [--device cuda:0] [--small] [--json FILE] [--table FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from gpu_report import FP32_TOLERANCE, Report  # noqa: E402 (benchmarks/, beside this file)

from virnucpro_bridge.tasks.virnucpro.budget import TokenBudget  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.dnabert import DnabertConfig, MosaicBert  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.dnabert_folder import DnaTokenizer  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.dnabert_hf import bpe_tokenizer, random_state  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.embeddings import NucleotideEmbedder, ProteinEmbedder  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.esm_forward import EsmSdpa, FairEsmForward  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.precision import (  # noqa: E402
    EMBEDDING_TOLERANCE,
    compute_dtype,
    dtype_name,
)

AMINO = "ACDEFGHIKLMNPQRSTVWY"


@dataclass(frozen=True)
class Shapes:
    """Model shapes and input sizes for one run of the check."""

    bert: tuple[int, int, int, int]  # layers, hidden, heads, intermediate
    esm: tuple[int, int, int]  # layers, dim, heads
    dna: int  # sequences for throughput
    proteins: int
    small_set: int  # sequences compared against CPU
    oom_proteins: int  # long proteins for the out-of-memory run
    oom_length: int


FULL = Shapes(bert=(12, 768, 12, 3072), esm=(36, 2560, 40), dna=2048, proteins=512, small_set=2,
              oom_proteins=384, oom_length=1000)
SMALL = Shapes(bert=(2, 48, 12, 96), esm=(2, 64, 4), dna=24, proteins=24, small_set=3, oom_proteins=12,
               oom_length=200)
COMPARE_LENGTH = 80  # residues / 3x bases of the sequences compared against CPU: seconds on CPU at 3B


def dna_set(n: int, length: int = 500, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(n)]


def protein_set(n: int, length: int | None = None, seed: int = 1) -> list[str]:
    rng = random.Random(seed)  # 500 bp frames give ~166 residues
    return ["".join(rng.choice(AMINO) for _ in range(length or rng.randint(120, 166))) for _ in range(n)]


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def free(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def build_dnabert(shapes: Shapes, device: str, dtype: Any, kernel: str) -> MosaicBert:
    layers, hidden, heads, intermediate = shapes.bert
    config = DnabertConfig(vocab_size=4096, hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, intermediate_size=intermediate)
    with torch.device("meta"):
        model = MosaicBert(config, kernel)
    state = {k: v for k, v in random_state(config, seed=0).items() if not k.startswith("pooler.")}
    model.load_state_dict(state, assign=True)
    return model.to(device=device, dtype=dtype or torch.float32).eval()


def build_esm(shapes: Shapes, device: str) -> Any:
    """fair-esm's ESM2, float32, random weights made directly on ``device``."""
    from esm.model.esm2 import ESM2

    layers, dim, heads = shapes.esm
    torch.manual_seed(0)
    with torch.device(device):
        return ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet="ESM-1b").eval()


def dna_tokens(tokenizer: DnaTokenizer, dna: list[str]) -> int:
    return sum(len(ids) for ids in tokenizer.ids(dna))


def check_dnabert(report: Report, shapes: Shapes, device: str, half: Any) -> None:
    tokenizer = DnaTokenizer(bpe_tokenizer())  # demo BPE: ~127 tokens per 500 bp (DNABERT-2's: ~107)
    dna = dna_set(shapes.dna)
    small = dna_set(shapes.small_set, 3 * COMPARE_LENGTH, seed=5)
    cpu = NucleotideEmbedder(tokenizer, build_dnabert(shapes, "cpu", None, "matmul"), "cpu", TokenBudget(4096))
    expected = cpu(small)  # upstream's path: CPU, float32, one sequence at a time
    tokens = dna_tokens(tokenizer, dna)
    name = f"DNABERT-S {shapes.bert[0]}x{shapes.bert[1]}"
    for dtype in (None, half):
        for kernel in ("sdpa", "matmul"):
            model = build_dnabert(shapes, device, dtype, kernel)
            embed = NucleotideEmbedder(tokenizer, model, device, TokenBudget(16384), dtype)
            embed.batched = True
            report.measure(name, dtype, kernel, embed, dna, tokens)
            if kernel == "sdpa":
                report.close_to(f"{name} sdpa", embed(small), expected, dtype)
            del model, embed
            free(device)


def check_esm(report: Report, shapes: Shapes, device: str, half: Any) -> Any:
    """Returns the half-precision model on ``device`` for the out-of-memory check."""
    proteins = protein_set(shapes.proteins)
    small = protein_set(shapes.small_set, COMPARE_LENGTH, seed=5)
    model = build_esm(shapes, device)
    name = f"ESM-2 {shapes.esm[0]}x{shapes.esm[1]}"
    tokens = sum(len(p) + 2 for p in proteins)
    # upstream's path on a CPU copy of the same weights (no second GPU copy)
    cpu_model = build_esm(shapes, "meta")
    cpu_model.load_state_dict({k: v.to("cpu") for k, v in model.state_dict().items()}, assign=True)
    expected = ProteinEmbedder(FairEsmForward(cpu_model), cpu_model.alphabet, cpu_model.embed_dim, "cpu",
                               TokenBudget(4096))(small)
    del cpu_model
    for dtype in (None, half):
        if dtype is not None:
            model = model.to(dtype)  # weights stored in the compute dtype, as workers hold them
            free(device)
        for forward_name, forward in (("sdpa", EsmSdpa(model)), ("fair-esm", FairEsmForward(model))):
            embed = ProteinEmbedder(forward, model.alphabet, model.embed_dim, device, TokenBudget(16384), dtype)
            embed.batched = True
            report.measure(name, dtype, forward_name, embed, proteins, tokens)
            if forward_name == "sdpa":
                report.close_to(f"{name} sdpa", embed(small), expected, dtype)
    return model


class InjectedOom:
    """CPU stand-in for a memory cap: out of memory above ``limit`` tokens per batch."""

    def __init__(self, forward: Any, limit: int) -> None:
        self.forward, self.limit = forward, limit

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.numel() > self.limit:
            raise torch.cuda.OutOfMemoryError("out of memory (injected)")
        return self.forward(tokens)


def check_oom(report: Report, shapes: Shapes, device: str, model: Any, dtype: Any) -> None:
    """An oversized budget under a memory cap of what is allocated + 2 GiB (CUDA)."""
    proteins = protein_set(shapes.oom_proteins, shapes.oom_length, seed=2)
    forward: Any = EsmSdpa(model)
    cuda = device.startswith("cuda")
    if cuda:
        dev = torch.device(device)
        free(device)
        total = torch.cuda.get_device_properties(dev).total_memory
        cap = torch.cuda.memory_allocated(dev) + 2 * 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), dev)
    else:
        forward = InjectedOom(forward, 4 * shapes.oom_length)
    budget = TokenBudget(100 * len(proteins) * (shapes.oom_length + 2))  # everything in one batch
    embed = ProteinEmbedder(forward, model.alphabet, model.embed_dim, device, budget, dtype)
    embed.batched = True
    try:
        got = embed(proteins)
        synchronize(device)
    except Exception as exc:  # noqa: BLE001 - the check's verdict, not a crash
        report.check(False, f"OOM back-off: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return
    finally:
        if cuda:
            torch.cuda.set_per_process_memory_fraction(1.0, torch.device(device))
    safe = ProteinEmbedder(EsmSdpa(model), model.alphabet, model.embed_dim, device,
                           TokenBudget(max(1, budget.tokens // 2)), dtype)
    safe.batched = True
    expected = safe(proteins).float().cpu()
    error = ((got.float().cpu() - expected).abs().max() / expected.abs().max()).item()
    allowed = EMBEDDING_TOLERANCE.get(dtype, FP32_TOLERANCE)
    report.check(budget.backoffs >= 1 and error <= allowed,
                 f"OOM back-off: {len(proteins)} x {shapes.oom_length} aa from a {budget.initial:,}-token budget"
                 f"{' under a cap of allocated + 2 GiB' if cuda else ' (out of memory injected)'}: "
                 f"{budget.backoffs} back-offs -> {budget.tokens:,} tokens; max |diff| {error:.2e} against a run "
                 f"that never ran out (allowed {allowed:g})")


def describe(report: Report, device: str) -> Any:
    half = compute_dtype(device) or (torch.bfloat16 if device == "cpu" else None)
    if device.startswith("cuda"):
        dev = torch.device(device)
        free_b, total = torch.cuda.mem_get_info(dev)
        cc = "".join(map(str, torch.cuda.get_device_capability(dev)))
        report.facts.append(f"{torch.cuda.get_device_name(dev)}, sm{cc}, half = {dtype_name(half)}, "
                            f"{free_b / 2**30:.1f} of {total / 2**30:.1f} GiB free; "
                            f"torch {torch.__version__}, CUDA {torch.version.cuda}")
    else:
        report.facts.append(f"CPU, small shapes, out of memory injected, half = {dtype_name(half)}; "
                            f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"  {report.facts[-1]}", flush=True)
    return half


def run(device: str, shapes: Shapes) -> Report:
    report = Report(device)
    torch.set_grad_enabled(False)
    half = describe(report, device)
    check_dnabert(report, shapes, device, half)
    model = check_esm(report, shapes, device, half)
    check_oom(report, shapes, device, model, half)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--small", action="store_true", help="tiny shapes (what the tests run on CPU)")
    p.add_argument("--json", type=Path, help="also write the rows and checks to this file")
    p.add_argument("--table", type=Path, help="also write the table to this file")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device visible to torch {torch.__version__}", file=sys.stderr)
        return 2
    report = run(args.device, SMALL if args.small else FULL)
    print()
    print(report.render())
    if args.table:
        args.table.write_text(report.render() + "\n")
    if args.json:
        checks = [{"passed": ok, "check": text} for ok, text in report.checks]
        args.json.write_text(json.dumps({"facts": report.facts, "rows": report.rows, "checks": checks},
                                        indent=1) + "\n")
    return 0 if report.checks and all(ok for ok, _ in report.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
