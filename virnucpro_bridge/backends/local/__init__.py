"""The local backend: a spawned worker process per device, talking over pipes.

    worker.py  the per-device worker process and its reporter thread (Manager dict)
    pool.py    spawns workers, dispatches the coordinator's messages, restarts the stalled
"""
