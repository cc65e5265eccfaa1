"""VirNucPro task throughput: where the time goes, per worker.

CPU (always): demo models (``lbtui models init-demo``), synthetic records,
sequences/s for one worker and the split between the stages
(chunk + translate, nucleotide embedding, protein embedding, classifier).

CUDA (``--cuda``; skipped cleanly without a GPU): ESM-2 of a realistic size
(650M or 3B configuration, random weights, built on the GPU) and a BERT-base
sized DNABERT stand-in, fp32 vs bf16 vs fp16 autocast, sequences/s and peak
memory. Numbers only; nothing is asserted.

    python benchmarks/bench_virnucpro.py [--records 600] [--threads 1]
    python benchmarks/bench_virnucpro.py --cuda [--esm 650m|3b|both] [--frames 4000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ESM_CONFIGS = {"650m": (33, 1280, 20), "3b": (36, 2560, 40)}  # layers, dim, heads (fair-esm)


def synthetic_records(n: int, seed: int = 0) -> list[tuple[str, str]]:
    from virnucpro_bridge.tasks.virnucpro.synthetic import (
        coding_sequence,
        random_sequence,
    )

    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = rng.randint(300, 1500)
        viral = rng.random() < 0.5
        out.append((f"r{i}", coding_sequence(rng, length) if viral else random_sequence(rng, length)))
    return out


def frames_of(records, length: int):
    from virnucpro_bridge.tasks.virnucpro.prepare import iter_frames

    return list(iter_frames(records, length))


def bench_cpu(args: argparse.Namespace) -> None:
    import torch

    from virnucpro_bridge.hardware.devices import DeviceSpec
    from virnucpro_bridge.tasks.virnucpro import VirNucProTask
    from virnucpro_bridge.tasks.virnucpro.classifier import classify
    from virnucpro_bridge.tasks.virnucpro.demo_models import init_demo

    torch.set_num_threads(args.threads)
    records = synthetic_records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        init_demo(Path(tmp) / "models")
        t_init = time.perf_counter() - t0
        task = VirNucProTask({"models": str(Path(tmp) / "models"), "chunk_length": args.chunk_length})
        t0 = time.perf_counter()
        task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0, threads=args.threads))
        t_setup = time.perf_counter() - t0
        stages = {}
        t0 = time.perf_counter()
        frames = frames_of(records, args.chunk_length)
        stages["chunk + translate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        nuc = task.nucleotide([f.nucleotide for f in frames])
        stages["nucleotide embedding (BERT)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        prot = task.protein([f.protein for f in frames])
        stages["protein embedding (ESM-2)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        classify(task.classifier, torch.cat([nuc, prot], 1))
        stages["classifier"] = time.perf_counter() - t0
    total = sum(stages.values())
    print(f"CPU, demo models, {args.threads} thread(s) per worker, chunk length {args.chunk_length}")
    print(f"  {len(records)} records (300-1500 bp, half coding-dense) -> {len(frames)} frames kept")
    print(f"  init-demo {t_init:.2f} s, worker setup (load models) {t_setup:.2f} s")
    for name, seconds in stages.items():
        print(f"  {name:<30} {seconds:7.3f} s  {100 * seconds / total:5.1f} %")
    print(f"  {'total':<30} {total:7.3f} s")
    print(f"  throughput per worker: {len(records) / total:8.1f} sequences/s, "
          f"{len(frames) / total:8.1f} frames/s")


def bench_cuda(args: argparse.Namespace) -> None:
    import torch

    if not torch.cuda.is_available():
        print("CUDA: no GPU here, skipped")
        return
    from esm.model.esm2 import ESM2
    from transformers import BertConfig, BertModel

    from virnucpro_bridge.tasks.virnucpro.demo_models import nucleotide_tokenizer
    from virnucpro_bridge.tasks.virnucpro.embeddings import (
        NucleotideEmbedder,
        ProteinEmbedder,
    )

    device = "cuda:0"
    name = torch.cuda.get_device_name(0)
    frames = frames_of(synthetic_records(args.frames, seed=1), args.chunk_length)[: args.frames]
    proteins = [f.protein for f in frames]
    nucleotides = [f.nucleotide for f in frames]
    modes = [("fp32", None), ("bf16", torch.bfloat16), ("fp16", torch.float16)]
    print(f"CUDA {name}: {len(frames)} frames (chunk length {args.chunk_length}), random weights")

    def timed(embed, items):
        embed(items[:64])  # warm-up: kernels, allocator
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        embed(items)
        torch.cuda.synchronize()
        return time.perf_counter() - t0, torch.cuda.max_memory_allocated() / 2**30

    for key in (["650m", "3b"] if args.esm == "both" else [args.esm]):
        layers, dim, heads = ESM_CONFIGS[key]
        with torch.device(device):
            model = ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet="ESM-1b").eval()
        for label, dtype in modes:
            embed = ProteinEmbedder(model, model.alphabet, device, args.toks_per_batch, dtype)
            seconds, peak = timed(embed, proteins)
            print(f"  ESM-2 {key:<4} {label}: {len(proteins) / seconds:9.1f} frames/s   "
                  f"peak {peak:6.2f} GiB   ({args.toks_per_batch} tokens/batch)")
        del model, embed
        torch.cuda.empty_cache()

    tokenizer = nucleotide_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12,
                        num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512)
    with torch.device(device):
        bert = BertModel(config).eval()
    for label, dtype in modes:
        embed = NucleotideEmbedder(tokenizer, bert, device, args.toks_per_batch, dtype)
        seconds, peak = timed(embed, nucleotides)
        print(f"  BERT-base (DNABERT-S size) {label}: {len(nucleotides) / seconds:9.1f} frames/s   "
              f"peak {peak:6.2f} GiB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=600, help="CPU: synthetic records [600]")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU: torch threads, as one worker of cpu:N gets [1]")
    p.add_argument("--chunk-length", type=int, default=500, choices=(300, 500))
    p.add_argument("--cuda", action="store_true", help="also run the CUDA benchmark")
    p.add_argument("--esm", choices=("650m", "3b", "both"), default="650m")
    p.add_argument("--frames", type=int, default=4000, help="CUDA: frames to embed [4000]")
    p.add_argument("--toks-per-batch", type=int, default=2048)
    args = p.parse_args(argv)
    bench_cpu(args)
    if args.cuda:
        bench_cuda(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
