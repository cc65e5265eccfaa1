"""The lbtui engine: work-stealing multi-device runs over FASTA files.

Nothing in this package imports textual or rich (``tests/test_import_hygiene.py``
checks it): the engine hands out plain, frozen snapshots and takes plain
commands, so the Textual dashboard, the headless log and a later cluster
backend all sit on the same seam.

Layout::

    fasta.py         streaming FASTA scan, validation, record iteration (seeks)
    record_index.py  byte offsets of every 256th record: cut or read a unit anywhere
    gzip_cache.py    seekable copy of a gzip input (1 MiB members) in a private cache
    units.py         input discovery, sharding into units, cost estimates
    devices.py       --gpus parsing and the GPU capability weight table
    nvml.py          NVML readings for CUDA devices (None when unavailable)
    assignment.py    initial greedy assignment (pure)
    stealing.py      the stealing rule and speed estimates (pure)
    throughput.py    rolling throughput windows, stall detection (pure)
    history.py       whole-run histories at halving resolution (pure)
    snapshot.py      the frozen views handed to UIs
    control.py       the two small interfaces a UI depends on
    coordinator.py   queues, dispatch, stealing; owns the run's state and its end
    commands.py      pause / resume / drain / stealing / stop (the UI's half)
    monitoring.py    worker reports, stalls, histories, "live readings lost"
    recovery.py      retries, worker deaths, stalled-worker restarts
    device_book.py   per-device queue and counters
    views.py         coordinator state -> snapshot views, summary.json
    messages.py      what crosses a worker's pipe (WorkItem, Done, ...) and the wake-up pipe
    worker.py        the per-device worker process and its reporter thread
    pool.py          local backend: spawns workers, dispatches over pipes
    housekeeping.py  each dispatcher pass's rules (stops, drains, stalls, readings), for every backend
    journal.py       whole-line appends: manifest.jsonl, events.jsonl, metrics.csv, errors.log
    outputs.py       run.json, summary.json, manifest entries, resume
    metrics_log.py   --metrics-log CSV
    atomic.py        temp file + rename writes
    runner.py        wires it all together for one run
    errors.py        errors reported as one line (exit 2; 3 when --out fails)
    tasks/           the task plugin protocol and built-in tasks (sim, virnucpro)
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
