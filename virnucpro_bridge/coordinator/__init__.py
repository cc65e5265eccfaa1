"""The run's state and its rules in motion: one coordinator, driven by a backend.

    coordinator.py   queues, dispatch, stealing; owns the run's state and its end
    device_book.py   per-device queue and counters
    commands.py      pause / resume / drain / stealing / stop (the UI's half)
    monitoring.py    worker reports, stalls, histories, "live readings lost"
    recovery.py      retries, worker deaths, stalled-worker restarts
    health.py        device health apart from unit health: restart or retire a failing device
    splitting.py     in-flight cuts of a running unit for an idle device
    ahead.py         units sent ahead to a worker: held for it until run, withdrawn or its death
    views.py         coordinator state -> snapshot views, summary.json
    housekeeping.py  each dispatcher pass's rules (stops, drains, stalls, readings), for every backend
    messages.py      what the coordinator and a worker say to each other (WorkItem, Done, Cut, ...)
                     and the signal-safe wake-up pipe

May import: ``errors``, ``policy``, ``options``, ``control``, ``hardware``, ``inputs`` and the
standard library. It knows no backend: a backend calls its methods and carries
its messages.
"""
