"""The Ray backend: one threaded actor per device, the dispatcher stays in the driver.

    cluster.py  connecting to (or starting) Ray, finding the cluster's devices
    actor.py    the per-device actor that runs a task's units
    backend.py  RayPool: the driver's side (records out, results back, written here)
    loop.py     one pass of the driver's dispatcher loop

Ray is optional (``pip install 'lbtui[ray]'``); nothing imports this package
unless ``--backend ray`` is asked for.
"""
