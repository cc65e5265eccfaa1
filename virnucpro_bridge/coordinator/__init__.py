"""The run's state and its rules in motion: one coordinator, driven by a backend.

The ``Coordinator`` (coordinator.py) composes parts; each owns the state it
changes and is handed, in its ``__init__``, what it reads::

    device_book.py   DeviceBook per device: queue, unit in flight, flags, counters (shared by all)
    events.py        EventLog: numbered events, the last steals, error lines
    counts.py        RunCounts: units and sequences planned and done, makespan
    progress.py      UnitProgress: where each running unit is (work, reported position)
    queues.py        Queues: assignment, dispatch (attempts), rates, stealing, placement
    commands.py      RunControls: pause / resume / drain / stealing / stop (the UI's half), abort
    recovery.py      Recovery: retries, requeues, give-backs, refunds (units)
    splitting.py     Splitting: in-flight cuts of a running unit for an idle device
    health.py        DeviceHealth: deaths, restarts, retirements (devices)
    monitoring.py    DeviceMonitoring: worker reports, stalls, histories, "live readings lost"
    ahead.py         SentAhead: units sent ahead to a worker, held for it until run or withdrawn
    housekeeping.py  each dispatcher pass's rules (stops, drains, stalls, readings), for every backend
    views.py         coordinator state -> snapshot views, summary.json
    messages.py      what the coordinator and a worker say to each other (WorkItem, Done, Cut, ...)
                     and the signal-safe wake-up pipe

May import: ``errors``, ``policy``, ``options``, ``control``, ``hardware``, ``inputs`` and the
standard library. It knows no backend: a backend calls its methods and carries
its messages.
"""
