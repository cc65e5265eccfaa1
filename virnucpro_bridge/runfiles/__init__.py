"""What a run leaves in ``--out``, written and read back in one place.

    atomic.py       temp file + rename writes
    journal.py      whole-line appends: manifest.jsonl, events.jsonl, metrics.csv, errors.log,
                    sessions.jsonl
    manifest.py     ManifestEntry: one manifest.jsonl line, for its writer and every reader
    folder_format.py  run.json's format number: which run folders this lbtui reads
    outputs.py      run.json, summary.json, resume by span
    completion.py   which parts of each input are done, exactly once; merge a file when complete
    lock.py         one run per folder: a kernel lock held for the run's whole life
    metrics_log.py  the --metrics-log CSV
    sessions.py     each session's start and end (sessions.jsonl), the run's totals over sessions
    history.py      every session of a run folder, killed ones rebuilt from the manifest
    reader.py       the one typed reader of a run folder (report, attach to an ended run)
    vouch.py        a result file's sha256 and size, written and checked before it is trusted
    verify.py       lbtui verify: a run folder against its manifest and its inputs

The writers and the reader live together so the reader never drifts from what is
written (dask's ``protocol/``). May import: ``errors``, ``control.snapshot``, ``control.endpoint``,
``inputs`` and the standard library.
"""
