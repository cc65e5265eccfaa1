"""The GPU check's measurements (scripts/gpu_check.sh): one table, nothing downloaded.

    device        name, compute capability, the dtype chosen for it, memory
    DNABERT-S     real size (12 x 768, 12 heads), random weights: sequences/s
                  fp32 and half (bf16 or fp16 by capability) x SDPA / matmul attention
    ESM-2 3B      3B-shaped (36 x 2560, 40 heads), random weights built on the GPU:
                  sequences/s fp32 and half x our SDPA forward / fair-esm's forward
    CUDA vs CPU   max embedding difference on a small set (CPU: float32, upstream's path)
    OOM back-off  an oversized token budget under a memory cap: back-offs, final budget,
                  and the embeddings against a run that never ran out of memory
    NVML          utilization, memory, temperature, power after the work

``--device cpu --small`` runs every section on CPU with tiny shapes (out of
memory injected): the tests use it, so this file is exercised without a GPU.

    python benchmarks/gpu_check.py [--device cuda:0] [--small] [--json FILE] [--table FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from virnucpro_bridge.tasks.virnucpro.budget import TokenBudget, starting_budget  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.dnabert import DnabertConfig, MosaicBert  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.dnabert_folder import DnaTokenizer  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.dnabert_hf import bpe_tokenizer, random_state  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.embeddings import NucleotideEmbedder, ProteinEmbedder  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.esm_forward import EsmSdpa, FairEsmForward  # noqa: E402
from virnucpro_bridge.tasks.virnucpro.precision import compute_dtype, dtype_name  # noqa: E402

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


FULL = Shapes(bert=(12, 768, 12, 3072), esm=(36, 2560, 40), dna=2048, proteins=512, small_set=4,
              oom_proteins=384, oom_length=1000)
SMALL = Shapes(bert=(2, 48, 12, 96), esm=(2, 64, 4), dna=24, proteins=24, small_set=3, oom_proteins=12,
               oom_length=200)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, check: str, setting: str, result: str) -> None:
        self.rows.append((check, setting, result))
        print(f"  {check:<13} {setting:<40} {result}", flush=True)  # progress as it goes

    def render(self) -> str:
        widths = [max(len(r[i]) for r in self.rows + [("check", "setting", "result")]) for i in range(3)]
        line = "  ".join("-" * w for w in widths)
        head = "  ".join(h.ljust(w) for h, w in zip(("check", "setting", "result"), widths, strict=True))
        body = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in self.rows]
        return "\n".join([head.rstrip(), line, *body])


def dna_set(n: int, length: int = 500, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(n)]


def protein_set(n: int, length: int | None = None, seed: int = 1) -> list[str]:
    rng = random.Random(seed)  # 500 bp frames give ~166 residues
    return ["".join(rng.choice(AMINO) for _ in range(length or rng.randint(120, 166))) for _ in range(n)]


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def rate(embed: Callable[[list[str]], Any], items: list[str], device: str) -> float:
    embed(items[:8])  # warm-up: kernels, allocator, rotary tables
    synchronize(device)
    started = time.perf_counter()
    embed(items)
    synchronize(device)
    return len(items) / (time.perf_counter() - started)


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


def max_diff(a: torch.Tensor, b: torch.Tensor) -> str:
    abs_diff = (a - b).abs().max().item()
    return f"max |diff| {abs_diff:.2e} ({100 * abs_diff / b.abs().max().item():.3f} % of max)"


def check_dnabert(table: Table, shapes: Shapes, device: str, half: Any) -> None:
    tokenizer = DnaTokenizer(bpe_tokenizer())  # demo BPE: ~127 tokens per 500 bp (DNABERT-2's: ~107)
    dna = dna_set(shapes.dna)
    small = dna[: shapes.small_set]
    cpu = NucleotideEmbedder(tokenizer, build_dnabert(shapes, "cpu", None, "matmul"), "cpu", TokenBudget(4096))
    expected = cpu(small)  # upstream's path: CPU, float32, one sequence at a time
    for dtype in (None, half):
        for kernel in ("sdpa", "matmul"):
            model = build_dnabert(shapes, device, dtype, kernel)
            embed = NucleotideEmbedder(tokenizer, model, device, TokenBudget(16384), dtype)
            embed.batched = True
            setting = f"{dtype_name(dtype)} {kernel}"
            table.add("DNABERT-S", f"{setting}, {len(dna)} x 500 bp", f"{rate(embed, dna, device):9.1f} seq/s")
            if kernel == "sdpa":
                table.add("CUDA vs CPU", f"DNABERT-S {setting} vs CPU fp32", max_diff(embed(small), expected))
            del model, embed
            free(device)


def check_esm(table: Table, shapes: Shapes, device: str, half: Any) -> Any:
    """Returns the half-precision model on ``device`` for the out-of-memory check."""
    proteins = protein_set(shapes.proteins)
    small = proteins[: shapes.small_set]
    model = build_esm(shapes, device)
    label = f"{shapes.esm[0]} x {shapes.esm[1]}"
    expected = None
    if shapes.small_set:  # upstream's path on a CPU copy of the same weights (no second GPU copy)
        cpu_model = build_esm(shapes, "meta")
        cpu_model.load_state_dict({k: v.to("cpu") for k, v in model.state_dict().items()}, assign=True)
        expected = ProteinEmbedder(FairEsmForward(cpu_model), cpu_model.alphabet, cpu_model.embed_dim, "cpu",
                                   TokenBudget(4096))(small)
        del cpu_model
    for dtype in (None, half):
        if dtype is not None:
            model = model.to(dtype)  # weights stored in the compute dtype, as workers hold them
            free(device)
        for name, forward in (("sdpa", EsmSdpa(model)), ("fair-esm", FairEsmForward(model))):
            embed = ProteinEmbedder(forward, model.alphabet, model.embed_dim, device, TokenBudget(16384), dtype)
            embed.batched = True
            setting = f"{dtype_name(dtype)} {name}"
            speed = rate(embed, proteins, device)
            table.add(f"ESM-2 {label}", f"{setting}, {len(proteins)} proteins", f"{speed:9.1f} seq/s")
            if name == "sdpa" and expected is not None:
                table.add("CUDA vs CPU", f"ESM-2 {setting} vs CPU fp32", max_diff(embed(small), expected))
    return model


class InjectedOom:
    """CPU stand-in for a memory cap: out of memory above ``limit`` tokens per batch."""

    def __init__(self, forward: Any, limit: int) -> None:
        self.forward, self.limit = forward, limit

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.numel() > self.limit:
            raise torch.cuda.OutOfMemoryError("out of memory (injected)")
        return self.forward(tokens)


def check_oom(table: Table, shapes: Shapes, device: str, model: Any, dtype: Any) -> None:
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
        suggested = starting_budget(cap - torch.cuda.memory_allocated(dev), model.embed_dim,
                                    torch.finfo(dtype).bits // 8 if dtype else 4)
    else:
        forward = InjectedOom(forward, 4 * shapes.oom_length)
        suggested = 4 * shapes.oom_length
    budget = TokenBudget(100 * len(proteins) * (shapes.oom_length + 2))  # everything in one batch
    embed = ProteinEmbedder(forward, model.alphabet, model.embed_dim, device, budget, dtype)
    embed.batched = True
    try:
        started = time.perf_counter()
        got = embed(proteins)
        synchronize(device)
        seconds = time.perf_counter() - started
    finally:
        if cuda:
            torch.cuda.set_per_process_memory_fraction(1.0, torch.device(device))
    table.add("OOM back-off", f"{len(proteins)} x {shapes.oom_length} aa, budget {budget.initial:,}",
              f"{budget.backoffs} back-offs -> {budget.tokens:,} tokens, {len(proteins) / seconds:.1f} seq/s")
    safe = ProteinEmbedder(EsmSdpa(model), model.alphabet, model.embed_dim, device,
                           TokenBudget(max(1, budget.tokens // 2)), dtype)
    safe.batched = True
    table.add("OOM back-off", f"vs a run that never ran out (start {suggested:,})", max_diff(got, safe(proteins)))


def free(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def check_device(table: Table, device: str) -> Any:
    half = compute_dtype(device) or (torch.bfloat16 if device == "cpu" else None)
    if device.startswith("cuda"):
        dev = torch.device(device)
        free_b, total = torch.cuda.mem_get_info(dev)
        table.add("device", torch.cuda.get_device_name(dev),
                  f"sm{''.join(map(str, torch.cuda.get_device_capability(dev)))}, half = {dtype_name(half)}, "
                  f"{free_b / 2**30:.1f} of {total / 2**30:.1f} GiB free")
        table.add("device", "torch / CUDA / TF32 matmul",
                  f"{torch.__version__} / {torch.version.cuda} / {torch.backends.cuda.matmul.allow_tf32}")
    else:
        table.add("device", "cpu (small shapes, out of memory injected)", f"half = {dtype_name(half)}")
    return half


def check_nvml(table: Table, device: str) -> None:
    if not device.startswith("cuda"):
        table.add("NVML", device, "no NVML on CPU")
        return
    from virnucpro_bridge.hardware.nvml import NvmlSampler

    sampler = NvmlSampler(torch.device(device).index or 0)
    r = sampler.read()
    sampler.close()
    fields = [("util", r.utilization, "%"), ("memory", r.memory, "%"), ("temp", r.temperature, " C"),
              ("power", r.power, " W")]
    table.add("NVML", device, ", ".join(f"{n} {'n/a' if v is None else f'{v:.0f}{u}'}" for n, v, u in fields))


def run(device: str, shapes: Shapes) -> Table:
    table = Table()
    torch.set_grad_enabled(False)
    half = check_device(table, device)
    check_dnabert(table, shapes, device, half)
    model = check_esm(table, shapes, device, half)
    check_oom(table, shapes, device, model, half)
    del model
    free(device)
    check_nvml(table, device)
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--small", action="store_true", help="tiny shapes (what the tests run on CPU)")
    p.add_argument("--json", type=Path, help="also write the rows to this file")
    p.add_argument("--table", type=Path, help="also write the table to this file")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device visible to torch {torch.__version__}", file=sys.stderr)
        return 2
    table = run(args.device, SMALL if args.small else FULL)
    print()
    print(table.render())
    if args.table:
        args.table.write_text(table.render() + "\n")
    if args.json:
        rows = [dict(zip(("check", "setting", "result"), r, strict=True)) for r in table.rows]
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
