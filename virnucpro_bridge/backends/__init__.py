"""Who runs the units: a backend drives the coordinator and carries its messages.

    base.py the contract: Backend (what the runner calls), Scheduler (what a backend may
            call on the coordinator), Sink (where finished units go)
    local/  one spawned worker process per device on this machine (the default)
    ray/    one Ray actor per device on a Ray cluster (``--backend ray``)

May import: everything below ``runner`` (coordinator, tasks, runfiles, inputs,
hardware, control, policy, errors). Backends do not import each other, except
that the Ray backend reuses the local worker's reporter thread and limits.
"""
