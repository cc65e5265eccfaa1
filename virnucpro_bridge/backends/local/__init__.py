"""The local backend: a spawned worker process per device, talking over pipes.

    worker.py  the per-device worker process, its inbox of units and its reporter thread (Manager dict)
    pool.py    spawns workers, dispatches the coordinator's messages, restarts the stalled
    ahead.py   how much of a device's queue goes ahead to its worker (short units only)
    signals.py SIGINT/SIGTERM are the main process's: workers and the Manager are born ignoring them
"""
