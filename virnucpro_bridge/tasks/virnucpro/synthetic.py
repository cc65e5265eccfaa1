"""Synthetic nucleotide sequences for the demo inputs, tests and benchmarks.

"Viral-looking" records are built from sense codons only (one long open frame,
on a random strand), so chunks keep at least one frame, as coding-dense viral
genomes tend to; "background" records are uniform random bases, which rarely
keep any frame longer than a short read. Everything derives from a seed.

Regenerate the built-in demo inputs with::

    python -m virnucpro_bridge.tasks.virnucpro.synthetic lbtui/demo_data
"""

from __future__ import annotations

import gzip
import io
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from .translation import CODON_TABLE, reverse_complement

SENSE_CODONS = sorted(c for c, aa in CODON_TABLE.items() if aa != "*")


def coding_sequence(rng: random.Random, n: int) -> str:
    seq = "".join(rng.choice(SENSE_CODONS) for _ in range(n // 3 + 1))[:n]
    return reverse_complement(seq) if rng.random() < 0.5 else seq


def random_sequence(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


@dataclass(frozen=True)
class DemoFile:
    name: str
    records: int
    min_len: int
    max_len: int
    viral: float  # fraction of coding-dense records


DEMO_FILES = (  # ~9 s of CPU work on the demo models: a short run that still shows steals
    DemoFile("phage_contigs.fa.gz", 240, 1500, 4000, 0.9),
    DemoFile("gut_reads_a.fa.gz", 1200, 150, 300, 0.3),
    DemoFile("gut_reads_b.fa.gz", 800, 150, 300, 0.3),
    DemoFile("marine_virome.fa.gz", 600, 500, 1200, 0.6),
    DemoFile("hospital_swab.fa.gz", 400, 200, 600, 0.5),
    DemoFile("soil_sample.fa.gz", 500, 300, 800, 0.1),
    DemoFile("plasmid_mix.fa", 40, 800, 2000, 0.2),
    DemoFile("tiny_sample.fa", 8, 100, 700, 0.5),
)


def fasta_text(spec: DemoFile, seed: int) -> str:
    rng = random.Random(f"{seed}:{spec.name}")
    prefix = spec.name.split(".")[0]
    out = io.StringIO()
    for i in range(spec.records):
        n = rng.randint(spec.min_len, spec.max_len)
        viral = rng.random() < spec.viral
        seq = coding_sequence(rng, n) if viral else random_sequence(rng, n)
        out.write(f">{prefix}_{i + 1} synthetic {'coding-dense' if viral else 'background'} len={n}\n")
        for j in range(0, n, 60):
            out.write(seq[j:j + 60] + "\n")
    return out.getvalue()


def write_fasta(path: Path, text: str) -> None:
    data = text.encode()
    if path.name.endswith(".gz"):  # mtime=0 and no name: the same bytes every time
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
            gz.write(data)
        data = buf.getvalue()
    path.write_bytes(data)


def write_demo_data(folder: str | Path, seed: int = 7) -> list[Path]:
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in DEMO_FILES:
        path = root / spec.name
        write_fasta(path, fasta_text(spec, seed))
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover
    for p in write_demo_data(sys.argv[1] if len(sys.argv) > 1 else "lbtui/demo_data"):
        print(p)
