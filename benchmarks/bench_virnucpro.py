"""VirNucPro task throughput: where the time goes, per worker, and which forward to use.

CPU (always):
* demo models (``lbtui models init-demo``), synthetic records, sequences/s for
  one worker and the split between the stages (chunk + translate, nucleotide
  embedding, protein embedding, classifier);
* DNABERT-S at its real size (random weights, real layout): our encoder with
  each attention kernel against DNABERT-S's own code (shared/ref/dnabert_s, on
  its PyTorch path; needs the test extra), sequences/s and load times;
* ESM-2 (150M shape by default): the SDPA forward against fair-esm's, and
  loading a fair-esm checkpoint with ours against fair-esm's loader.

CUDA (``--cuda``; skipped cleanly without a GPU): the GPU check's table
(benchmarks/gpu_check.py). Numbers only; nothing is asserted.

    python benchmarks/bench_virnucpro.py [--records 600] [--threads 1] [--sequences 16] [--esm-cpu 150m]
    python benchmarks/bench_virnucpro.py --cuda
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lbtui, virnucpro_bridge, tests
sys.path.insert(0, str(Path(__file__).resolve().parent))  # gpu_check

ESM_CONFIGS = {"35m": (12, 480, 20), "150m": (30, 640, 20), "650m": (33, 1280, 20), "3b": (36, 2560, 40)}


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


ROUNDS = 3  # alternating rounds per candidate: a shared machine's noise hits all of them alike


def _compare(candidates: dict, items: list, label_width: int = 26) -> None:
    """Print each candidate's sequences/s: best of ROUNDS, candidates alternating, timed by
    this process's CPU time (with one thread, what other processes do on the machine counts less)."""
    for fn in candidates.values():
        fn(items[:1])  # warm-up
    best: dict[str, float] = {}
    for r in range(ROUNDS):
        names = list(candidates) if r % 2 == 0 else list(reversed(candidates))
        for name in names:
            started = time.process_time()
            candidates[name](items)
            best[name] = max(best.get(name, 0.0), len(items) / (time.process_time() - started))
    for name, speed in best.items():
        print(f"  {name:<{label_width}} {speed:7.2f} seq/s")


def _timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def bench_dnabert(args: argparse.Namespace, tmp: Path) -> None:
    """Real-size DNABERT-S (117M, random weights, real layout): ours vs DNABERT-S's own code."""
    import torch

    from tests.virnucpro import dnabert_reference as ref
    from virnucpro_bridge.tasks.virnucpro.dnabert_folder import load
    from virnucpro_bridge.tasks.virnucpro.dnabert_hf import write_dnabert

    try:
        source = ref.load_folder()
        config = ref.config_json()
    except ref.Unavailable as exc:
        print(f"DNABERT-S: reference files unavailable ({exc}); skipped")
        return
    folder = write_dnabert(tmp / "dnabert", hidden=config["hidden_size"], layers=config["num_hidden_layers"],
                           heads=config["num_attention_heads"], intermediate=config["intermediate_size"],
                           tokenizer=source / "tokenizer.json")
    dna = [seq[:500] for _, seq in synthetic_records(args.sequences, seed=3)]  # one 500 bp chunk each
    print(f"DNABERT-S, real size, CPU, {args.threads} thread(s), {len(dna)} x 500 bp one at a time "
          f"(upstream's way); best of {ROUNDS}, CPU time")
    candidates, loads = {}, {}
    for kernel in ("matmul", "sdpa"):
        (tokenizer, model), loads[f"ours, {kernel} attention"] = _timed(
            lambda kernel=kernel: load(folder, "cpu", kernel=kernel)
        )
        candidates[f"ours, {kernel} attention"] = lambda xs, m=model: [m(x).mean(1) for x in xs]
    ids = [torch.tensor([row]) for row in tokenizer.ids(dna)]
    weights = folder / "pytorch_model.bin"
    try:
        theirs, loads["DNABERT-S's own code"] = _timed(lambda: ref.reference_model(
            config, torch.load(weights, weights_only=True), skip=False))
        candidates["DNABERT-S's own code"] = lambda xs: [theirs(x)[0].mean(1) for x in xs]
    except ref.Unavailable as exc:
        print(f"  reference: {exc}")
    with torch.inference_mode():
        _compare(candidates, ids)
    print("  load: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in loads.items())
          + " (reference: build + torch.load + load_state_dict, without from_pretrained's overhead)")


def bench_esm(args: argparse.Namespace, tmp: Path) -> None:
    """ESM-2 on CPU: the SDPA forward vs fair-esm's, and loading a fair-esm checkpoint."""
    import esm
    import torch
    from esm.model.esm2 import ESM2

    from virnucpro_bridge.tasks.virnucpro.esm_checkpoint import load_esm
    from virnucpro_bridge.tasks.virnucpro.esm_forward import EsmSdpa, FairEsmForward

    layers, dim, heads = ESM_CONFIGS[args.esm_cpu]
    torch.manual_seed(0)
    model = ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet="ESM-1b").eval()
    path = tmp / f"esm2_{args.esm_cpu}.pt"
    state = model.state_dict()
    regression = {k: state.pop(k) for k in list(state) if k.startswith("contact_head.regression.")}
    state = {f"encoder.sentence_encoder.{k}": v for k, v in state.items()}
    cfg = argparse.Namespace(encoder_layers=layers, encoder_embed_dim=dim, encoder_attention_heads=heads,
                             token_dropout=True)
    torch.save({"model": state, "cfg": {"model": cfg}}, path)
    torch.save({"model": regression}, tmp / f"esm2_{args.esm_cpu}-contact-regression.pt")  # fair-esm wants it
    del state
    frames = frames_of(synthetic_records(4 * args.sequences, seed=4), args.chunk_length)[: args.sequences]
    convert = model.alphabet.get_batch_converter(1024)
    tokens = [convert([("p", f.protein)])[2] for f in frames]
    print(f"ESM-2 {args.esm_cpu} shape ({layers} x {dim}), CPU, {args.threads} thread(s), "
          f"{len(tokens)} proteins one at a time; best of {ROUNDS}, CPU time")
    with torch.inference_mode():
        _compare({name: (lambda xs, f=forward: [f(x) for x in xs]) for name, forward in
                  (("fair-esm's forward", FairEsmForward(model)), ("SDPA forward", EsmSdpa(model)))}, tokens)
    _, ours = _timed(lambda: load_esm(path, "cpu"))
    with torch.serialization.safe_globals([argparse.Namespace]):
        _, theirs = _timed(lambda: esm.pretrained.load_model_and_alphabet_local(str(path)))
    print(f"  load: ours {ours:5.2f} s (meta device + memory-mapped), fair-esm's loader {theirs:5.2f} s")


def bench_cuda(args: argparse.Namespace) -> None:
    import torch

    if not torch.cuda.is_available():
        print("CUDA: no GPU here, skipped (scripts/gpu_check.sh measures the GPU)")
        return
    import gpu_check

    table = gpu_check.run("cuda:0", gpu_check.FULL)
    print()
    print(table.render())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=600, help="CPU: synthetic records [600]")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU: torch threads, as one worker of cpu:N gets [1]")
    p.add_argument("--chunk-length", type=int, default=500, choices=(300, 500))
    p.add_argument("--sequences", type=int, default=16,
                   help="CPU model comparisons: sequences per model [16]")
    p.add_argument("--esm-cpu", choices=tuple(ESM_CONFIGS), default="150m",
                   help="ESM-2 shape for the CPU comparison [150m]")
    p.add_argument("--cuda", action="store_true", help="also run the GPU check's measurements (gpu_check.py)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    bench_cpu(args)
    with tempfile.TemporaryDirectory() as tmp:
        bench_dnabert(args, Path(tmp))
        bench_esm(args, Path(tmp))
    if args.cuda:
        bench_cuda(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
