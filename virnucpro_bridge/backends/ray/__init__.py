"""The Ray backend: one threaded actor per device, the dispatcher stays in the driver.

    cluster.py    connecting to (or starting) Ray, finding the cluster's devices
    protocol.py   what crosses between driver and actor (jobs by ticket, batched replies)
    actor.py      the per-device actor: its Ray methods, and running one job's task
    job_queue.py  inside the actor: its queue of jobs, the thread running them, cuts, outbox
    lanes.py      the driver's record of what each actor holds (short units sent ahead)
    backend.py    RayPool: actors' lifecycle and the calls made to them
    calls.py      the driver's pending actor calls, by device and actor generation
    replies.py    replies in, results written, outside the coordinator's lock
    loop.py       one pass of the driver's dispatcher loop

Ray is optional (the ``ray`` extra: ``pip install -e '.[ray]'`` in the checkout); nothing imports this package
unless ``--backend ray`` is asked for.
"""
