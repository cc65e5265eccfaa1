"""The run's state and its rules: one ``Coordinator`` (coordinator.py), driven by a backend,
composed of parts that each own the state they change and are handed what they read::

    device_book.py   DeviceBook per device: queue, unit in flight, flags, counters (shared by all)
    events.py, counts.py, progress.py   the event log; units and sequences done; units' positions
    queues.py        Queues: assignment, dispatch (attempts), rates, stealing, placement
    commands.py      RunControls: pause, resume, drain, stealing, stop (the UI's half), abort
    recovery.py      Recovery (units): retries, requeues, give-backs, refunds
    splitting.py     Splitting: in-flight cuts of a running unit for an idle device
    health.py        DeviceHealth (devices): deaths, restarts, retirements
    monitoring.py    DeviceMonitoring: worker reports, stalls, histories, "live readings lost"
    ahead.py         SentAhead: units sent ahead to a worker, held for it until run or withdrawn
    housekeeping.py  each dispatcher pass's rules (stops, drains, stalls, readings), for every backend
    views.py         coordinator state -> snapshot views, summary.json
    messages.py      what the coordinator and a worker say to each other; the wake-up pipe

May import ``errors``, ``policy``, ``options``, ``control``, ``hardware``, ``inputs`` and the standard
library. It knows no backend: a backend calls its methods and carries its messages.
"""
