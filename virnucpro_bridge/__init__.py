"""The lbtui engine: work-stealing multi-device runs over FASTA files.

It never imports textual or rich (``tests/test_import_hygiene.py``): it hands out frozen
snapshots and takes plain commands, the one seam for the dashboard, the headless log and attach.

Layers, lowest first. Each imports only from the layers above it in this list
(``tests/test_import_layers.py`` checks it, and that no two modules import each
other in a circle)::

    errors.py       errors reported as one line (exit 2; 3 when --out fails)
    policy/         pure scheduling rules: planning, assignment, stealing, throughput, history
    options.py      RunOptions: lbtui run's options, parsed once and carried whole
    control/        the boundary to UIs: frozen snapshots, the two interfaces, their JSON
                    wire form and the run's control channel (imports only errors)
    hardware/       --gpus parsing, capability weights, NVML readings
    inputs/         FASTA scanning and indexing, seekable gzip, units and record ranges
    runfiles/       what a run leaves in --out: whole-line journals, results, run.json,
                    summary, resume, and the one typed reader of all of it
    tasks/          the task plugin protocol and the built-in tasks (sim, virnucpro)
    coordinator/    the run's state: queues, dispatch, stealing, cuts, commands, recovery,
                    snapshots, and the messages it exchanges with workers
    backends/       who runs the units: local/ (spawned worker processes) and ray/ (actors)
    alerts/         what deserves an alert, and --notify / --notify-url on their own thread
    runner.py       one run end to end: validate, resume, start a backend, finish

``tasks`` sits below the coordinator: a worker (a backend) loads tasks, and a task needs
only inputs (its unit), hardware (its device) and runfiles (atomic writes).
"""

__all__ = ["__version__"]
__version__ = "0.2.0"
