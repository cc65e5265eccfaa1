"""Host-side preparation per 10,000 sequences: what a GPU waits for when it runs inline.

Before (what main did, with the primitives it called, which still exist) against
after (what the prefetch thread now runs), on 500 bp chunks of synthetic records
and the frames kept from them, one thread:

* six-frame translation: a dict lookup per codon vs numpy over every codon at once;
* ESM-2 batch conversion: fair-esm's ``BatchConverter`` vs the byte lookup table,
  in GPU batches of 512 and one sequence at a time (CPU's way);
* DNABERT-S tokenisation: one ``encode`` per sequence vs ``encode_batch_fast``;
* padding a DNABERT batch: a loop of small tensors vs one numpy assignment;
* both embedders' whole ``prepare`` (tokens, batches, tensors) for a block.

Seconds per 10,000 sequences, best of ROUNDS (process CPU time, so other work on a
shared machine counts less). Numbers only; nothing is asserted.

    python benchmarks/bench_host_prep.py [--sequences 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PER = 10_000


def best(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def inputs(n: int) -> tuple[list[str], list[str]]:
    """(n 500 bp chunks, n proteins kept from frames of such chunks)."""
    from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence
    from virnucpro_bridge.tasks.virnucpro.translation import identify_frames

    rng = random.Random(0)
    chunks = [coding_sequence(rng, 500) for _ in range(n)]
    proteins: list[str] = []
    for i, chunk in enumerate(chunks):
        proteins += [f.protein for f in identify_frames(str(i), chunk)]
        if len(proteins) >= n:
            break
    return chunks, proteins[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=PER)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()

    import esm
    import torch

    from virnucpro_bridge.tasks.virnucpro.budget import TokenBudget
    from virnucpro_bridge.tasks.virnucpro.dnabert import DnabertConfig, MosaicBert
    from virnucpro_bridge.tasks.virnucpro.dnabert_folder import DnaTokenizer
    from virnucpro_bridge.tasks.virnucpro.dnabert_hf import bpe_tokenizer
    from virnucpro_bridge.tasks.virnucpro.embeddings import NucleotideEmbedder, ProteinEmbedder
    from virnucpro_bridge.tasks.virnucpro.tokens import EsmTokens, pad_rows
    from virnucpro_bridge.tasks.virnucpro.translation import reverse_complement, six_frames, translate

    torch.set_num_threads(1)
    chunks, proteins = inputs(args.sequences)
    scale = PER / args.sequences
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    convert, lut = alphabet.get_batch_converter(1024), EsmTokens(alphabet, 1024)
    real = Path(__file__).resolve().parents[2] / "shared" / "ref" / "dnabert_s" / "tokenizer.json"
    if real.is_file():  # DNABERT-S's own tokenizer (4,096 tokens)
        from tokenizers import Tokenizer

        tokenizer, which = DnaTokenizer(Tokenizer.from_file(str(real))), "DNABERT-S's tokenizer.json"
    else:
        tokenizer, which = DnaTokenizer(bpe_tokenizer()), "the demo models' small BPE tokenizer"
    batches = [proteins[i:i + args.batch] for i in range(0, len(proteins), args.batch)]
    dna_batches = [chunks[i:i + args.batch] for i in range(0, len(chunks), args.batch)]
    ids = tokenizer.ids(chunks[: args.batch])

    def codon_by_codon() -> None:
        for c in chunks:
            reverse = reverse_complement(c)
            [translate(c, f) for f in range(3)] + [translate(reverse, f) for f in range(3)]

    def padding_loop() -> object:  # main's NucleotideEmbedder batch build
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), 0, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = torch.tensor(x)
            mask[row, : len(x)] = 1
        return input_ids, mask

    def padding_numpy() -> object:  # NucleotideEmbedder._host
        rows, lengths = pad_rows(ids, 0)
        return torch.from_numpy(rows), torch.arange(rows.shape[1]).unsqueeze(0) < torch.from_numpy(lengths).unsqueeze(1)

    cases = [
        ("six-frame translation", lambda: codon_by_codon(), lambda: [six_frames(c) for c in chunks], 1),
        (f"ESM-2 conversion, batches of {args.batch}",
         lambda: [convert([(str(i), p) for i, p in enumerate(b)]) for b in batches],
         lambda: [lut(b) for b in batches], 1),
        ("ESM-2 conversion, one at a time", lambda: [convert([("0", p)]) for p in proteins],
         lambda: [lut([p]) for p in proteins], 1),
        ("DNABERT-S tokenisation", lambda: [tokenizer.tokenizer.encode(c).ids for c in chunks],
         lambda: [tokenizer.ids(b) for b in dna_batches], 1),
        (f"DNABERT batch padding ({len(ids)} rows)", padding_loop, padding_numpy, args.sequences / len(ids)),
    ]
    print(f"host preparation, 1 thread, {args.sequences:,} sequences (500 bp chunks; proteins of their frames); "
          f"seconds per {PER:,}, best of {args.rounds} (CPU time); DNABERT: {which}")
    print(f"  {'':<40} {'before':>8} {'after':>8} {'speed-up':>9}")
    for name, before, after, repeat in cases:
        b = best(before, args.rounds) * repeat * scale
        a = best(after, args.rounds) * repeat * scale
        print(f"  {name:<40} {b:8.3f} {a:8.3f} {b / a:8.1f}x")

    # what the prefetch thread does per block, both models, as the CUDA path plans it
    config = DnabertConfig(vocab_size=tokenizer.tokenizer.get_vocab_size(), hidden_size=32,
                           num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    nucleotide = NucleotideEmbedder(tokenizer, MosaicBert(config), "cpu", TokenBudget(65536))
    protein = ProteinEmbedder(lambda t: t, alphabet, 32, "cpu", TokenBudget(65536))
    nucleotide.batched = protein.batched = True
    prepare = best(lambda: [(nucleotide.prepare(d), protein.prepare(p)) for d, p in zip(dna_batches, batches,
                                                                                        strict=False)],
                   args.rounds) * scale
    print(f"  {'prepare(), both models, blocks of ' + str(args.batch):<40} {'':>8} {prepare:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
