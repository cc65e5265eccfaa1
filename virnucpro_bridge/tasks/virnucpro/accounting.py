"""Every sequence of an input accounted for in its merged results.

A unit result has a line for every chunk of the records it covers: a row per kept
frame, or one empty row for a chunk that kept none. So before a file's per-file
results are committed (and again under ``lbtui verify``), its records are read back
and each must have exactly the chunks its length gives, and every sequence named in
the rows must be one of the file's. A unit result emptied or swapped after it was
written, or a piece missing from the tiling, fails here instead of silently leaving
sequences out of the results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...inputs.units import Unit, read_unit
from .chunking import chunk_count

NAMED = 3  # sequences named in a message before it only counts


def unaccounted(pieces: Sequence[Unit], chunks: Mapping[str, Sequence[str]], chunk_length: int) -> str | None:
    """What is wrong with the rows of the file ``pieces`` tile (in input order), or None.
    ``chunks``: each sequence's chunk ids the rows name (``results.Merged.chunks``)."""
    wrong: list[str] = []
    matched, last = 0, -1
    for unit in pieces:
        for r, record in enumerate(read_unit(unit)):
            index = unit.start + r
            if index <= last:
                continue  # a record cut between two pieces: looked at once
            last = index
            got = chunks.get(record.id)
            matched += got is not None
            expected = chunk_count(len(record.sequence), chunk_length)
            if len(got or ()) != expected:
                wrong.append(f"{record.id!r} (record {index + 1:,}: {len(got or ()):,} of {expected:,} chunks)")
    if wrong:
        more = f" and {len(wrong) - NAMED:,} more" if len(wrong) > NAMED else ""
        return (f"results for {len(wrong):,} sequence(s) incomplete: {', '.join(wrong[:NAMED])}{more}; "
                "a unit result is not what its unit wrote")
    if matched != len(chunks):
        return f"result rows for {len(chunks) - matched:,} sequence(s) the file does not hold"
    return None
