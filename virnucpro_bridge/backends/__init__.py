"""Who runs the units: a backend drives the coordinator and carries its messages.

    base.py what every backend shares (stall actions, the result sink)
    local/  one spawned worker process per device on this machine (the default)
    ray/    one Ray actor per device on a Ray cluster (``--backend ray``)

May import: everything below ``runner`` (coordinator, tasks, runfiles, inputs,
hardware, control, policy, errors). Backends do not import each other, except
that the Ray backend reuses the local worker's reporter thread and limits.
"""
