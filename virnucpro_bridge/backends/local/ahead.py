"""How much the local dispatcher sends ahead to a worker (see ``coordinator/ahead.py``).

A unit of milliseconds is mostly overhead when it goes alone: the worker waits
for the dispatcher's answer to its Done, and both processes wake once per
unit. Short units travel in batches instead, and the worker starts the next
one as soon as it has answered the last (numbers: docs/decisions.md).

What a worker holds ahead cannot be stolen, so it is kept small: at most
``MOST_AHEAD`` units, ``AHEAD_S`` seconds of estimated work (at the device's
measured rate, plus the task's fixed cost per unit) and half the device's
queue, so thieves always find as many units behind them as it holds; near
the end of a run, where assignment leaves the smallest units, nothing is held.
A unit of ``AHEAD_S`` or more never goes ahead: stealing and in-flight cuts see
it as a unit sent alone. A worker is topped up once it holds under half of either
limit, so a batch carries several units, not one.
"""

AHEAD_S = 0.05  # a round trip (≈ 0.1–1 ms) is under 2 % of a unit this long: no need to send it ahead
MOST_AHEAD = 16  # even zero-cost units: what a worker holds cannot be stolen
