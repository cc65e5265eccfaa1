"""Reading inputs: FASTA files, where to cut them, and the units of work.

    fasta.py         streaming FASTA scan, validation, record iteration with seeks
    record_index.py  byte offsets of every 256th record: cut or read a unit anywhere
    gzip_cache.py    seekable copy of a gzip input (1 MiB members) in a private cache
    units.py         input discovery, cutting files into units, cost estimates
    ranges.py        record-range bookkeeping: every record exactly once

May import: ``errors``, ``policy`` and the standard library.
"""
