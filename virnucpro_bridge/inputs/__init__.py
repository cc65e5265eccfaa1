"""Reading inputs: FASTA files, where to cut them, and the units of work.

    fasta.py         streaming FASTA scan, validation, record iteration with seeks
    record_index.py  byte offsets of every 256th record, lengths of long records
    gzip_cache.py    seekable copy of a gzip input (1 MiB members) in a private cache
    units.py         input discovery, what a unit covers, cutting a unit in two
    work.py          positions (record, part) in a file and the residues between them
    plan.py          scanning the inputs and cutting them into the run's units
    ranges.py        span bookkeeping: every record and part exactly once

May import: ``errors``, ``policy`` and the standard library.
"""
