"""Pure scheduling rules over plain data, tested without processes.

    sizes.py       --shard-size / --split-min sizes: records, residues or seconds
    planning.py    plan-time pieces in residues: factoring (large first, shrinking), the floor
    assignment.py  the initial greedy assignment by device capability
    stealing.py    the stealing and in-flight cut rules, speed estimates
    throughput.py  rolling throughput windows, stall detection
    history.py     whole-run histories at halving resolution

May import: the standard library only. Nothing here does I/O or keeps state
beyond its arguments (dask's ``stealing_objective``).
"""
