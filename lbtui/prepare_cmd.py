"""``lbtui prepare``: upstream VirNucPro's chunk and frame files for one FASTA input.

Optional: ``lbtui run`` does the same chunking and frame selection itself. The
files go to a folder of their own (``--out``), never beside the input: a later
``lbtui run`` on the input's folder would take them as inputs. Existing files
are replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
writes, as upstream VirNucPro does before any model runs:
  <stem>_chunked<L>.fa, <stem>_identified_nucleotide.fa, <stem>_identified_protein.faa
lbtui run does this itself: prepare is only for looking at (or comparing) these files.

example:
  lbtui prepare reads.fa.gz --length 300 --out prepared/
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prepare",
        help="chunk a FASTA file and keep stop-free frames, as upstream VirNucPro",
        description="Chunk a nucleotide FASTA file (plain or gzip) to length L and keep the "
        "six-frame translations without stops, exactly as upstream VirNucPro does.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="FASTA file (plain or gzip)")
    p.add_argument("--length", type=int, choices=(300, 500), default=500,
                   help="chunk length, as lbtui run --chunk-length: upstream's models exist for 300 and "
                   "500 only [default: 500]")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="output folder (created if needed); not the input's own folder")
    p.add_argument("--force", action="store_true", help="replace the three files if they exist in DIR")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.errors import InputError
    from virnucpro_bridge.inputs.fasta import iter_records, scan
    from virnucpro_bridge.tasks.virnucpro.prepare import BadSequence, output_names, prepare_file

    path = Path(args.input)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    scan(path, shard_size=1 << 62)  # one clear error for a file that is not FASTA
    out = Path(args.out)
    if out.resolve() == path.parent.resolve():
        raise InputError(f"--out {out}: the input's own folder; give a folder of their own (a later lbtui run "
                         "on the input's folder would take the prepared files as inputs)")
    there = [n for n in output_names(path, args.length) if (out / n).exists()]
    if there and not args.force:
        raise InputError(f"{out / there[0]}: already exists; give another --out, or --force to replace "
                         f"{'it' if len(there) == 1 else f'the {len(there)} files'}")
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
