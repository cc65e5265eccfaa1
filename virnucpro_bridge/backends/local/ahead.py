"""How much the local dispatcher sends ahead to a worker (see ``coordinator/ahead.py``).

A unit of milliseconds is mostly overhead when it goes alone: the worker waits
for the dispatcher's answer to its Done, and both processes wake once per
unit. Units whose estimated time is short travel in batches instead, and the
worker starts the next one as soon as it has answered the last.

What a worker holds ahead cannot be stolen, so it is kept small: at most
``MOST_AHEAD`` units and ``AHEAD_S`` seconds of estimated work (at the
device's measured rate, plus the task's fixed cost per unit). At the end of a
run that is the most an idle device can wait on another's held units; a unit
of ``AHEAD_S`` or more never goes ahead, so stealing and in-flight cuts see
long units exactly as before. It is topped up once it falls below
``REFILL_BELOW``, so a batch carries several units, not one.

Measured with ``benchmarks/bench_sched.py overhead`` (zero-cost units on 8
simulated devices): batches of up to 16 about halved the dispatcher's CPU per unit.
"""

AHEAD_S = 0.05  # a round trip (≈ 0.1–1 ms) is under 2 % of a unit this long: no need to send it ahead
MOST_AHEAD = 16
REFILL_BELOW = MOST_AHEAD // 2
