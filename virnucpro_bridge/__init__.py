"""The lbtui engine: work-stealing multi-device runs over FASTA files.

Nothing in this package imports textual or rich (``tests/test_import_hygiene.py``
checks it): the engine hands out plain, frozen snapshots and takes plain
commands, so the Textual dashboard, the headless log and a later cluster
backend all sit on the same seam.

Layout::

    fasta.py        streaming FASTA scan, validation, record iteration
    units.py        input discovery, sharding into units, cost estimates
    devices.py      --gpus parsing and the GPU capability weight table
    nvml.py         NVML readings for CUDA devices (None when unavailable)
    assignment.py   initial greedy assignment (pure)
    stealing.py     the stealing rule (pure)
    throughput.py   rolling throughput windows, stall detection (pure)
    snapshot.py     the frozen views handed to UIs
    control.py      the two small interfaces a UI depends on
    coordinator.py  queues, counters, events, controls; builds snapshots
    worker.py       the per-device worker process
    pool.py         local backend: spawns workers, moves units over pipes
    outputs.py      run.json, manifest.jsonl, summary.json, resume, atomic writes
    runner.py       wires it all together for one run
    tasks/          the task plugin protocol and built-in tasks
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
