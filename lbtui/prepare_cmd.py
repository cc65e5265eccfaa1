"""``lbtui prepare``: upstream VirNucPro's chunk and frame files for one FASTA input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .argtypes import number

EXAMPLES = """\
writes, as upstream VirNucPro does before any model runs:
  <stem>_chunked<L>.fa, <stem>_identified_nucleotide.fa, <stem>_identified_protein.faa

example:
  lbtui prepare reads.fa.gz --length 300 --out prepared/
"""


chunk_length = number(int, minimum=3)  # one codon at least


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="chunk a FASTA file and keep stop-free frames, as upstream VirNucPro",
        description="Chunk a nucleotide FASTA file (plain or gzip) to length L and keep the "
        "six-frame translations without stops, exactly as upstream VirNucPro does.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="FASTA file (plain or gzip)")
    p.add_argument("--length", type=chunk_length, default=500, metavar="L",
                   help="chunk length; upstream's models exist for 300 and 500 [default: 500]")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder [default: the input's folder]")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.errors import InputError
    from virnucpro_bridge.inputs.fasta import iter_records, scan
    from virnucpro_bridge.tasks.virnucpro.prepare import BadSequence, prepare_file

    path = Path(args.input)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    scan(path, shard_size=1 << 62)  # one clear error for a file that is not FASTA
    out = Path(args.out) if args.out else path.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create output folder: {e.strerror or e}") from None
    records = ((r.id, r.sequence) for r in iter_records(path))
    try:
        paths, counts = prepare_file(records, str(path), args.length, out, input_path=path)
    except BadSequence as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"{out}: cannot write: {e.strerror or e}") from None
    if counts.empty:
        print(f"lbtui: warning: {path}: {counts.empty} empty record(s) skipped", file=sys.stderr)
    print(f"{counts.records} records -> {counts.chunks} chunks of <= {args.length} -> "
          f"{counts.frames} frames kept")
    for p in paths:
        print(f"  {p}")
    return 0
