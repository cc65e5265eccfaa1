"""The backend contract: what the runner asks of a backend, and where finished units go.

    Run.start ─▶ Backend(coord, devices, options, task_name=, outputs=, sink=, status=, wakeup=, out_dir=)
              ─▶ start()             one worker per device (pids for run.json)
    dispatcher thread ─▶ run()      until the work is done, or a stop ends it
                      ─▶ finish()   after run() returned
                      ─▶ abort() + finish(), or wind_down(grace), after run() raised
    signal handler, main thread ─▶ abort()

A backend drives the coordinator (``coordinator/``): it calls the coordinator's
scheduling methods under ``coord.lock`` from the one dispatcher thread, and
runs a ``Housekeeping`` pass each loop. Results go to a ``Sink`` outside the lock.
``backends/local`` (processes and pipes) and ``backends/ray`` (actors) implement it.
"""

from __future__ import annotations

from typing import Protocol

from ..coordinator.device_book import InFlight
from ..coordinator.messages import Done, Failed, SetupFailed


class Backend(Protocol):
    """Runs the units on the devices, for one run."""

    def start(self) -> list[int | None]:
        """Start one worker per device (models load in the background); their
        process ids, None where not known yet. Called once, only when there is work."""

    def run(self) -> None:
        """The dispatcher loop, on the runner's dispatcher thread: hand units out,
        take results (to the sink), carry out commands and housekeeping, until
        every unit is done, failed or can never run, or a stop (past --grace, or
        "now") ends it. Raises ``OutputError`` when results cannot be written;
        anything else it raises is a bug."""

    def finish(self) -> None:
        """Stop every worker: a clean stop first, killed after a few seconds.
        Safe more than once, and after ``abort``."""

    def wind_down(self, grace: float, record: bool = True) -> None:
        """After ``run`` raised: withdraw what was sent ahead, wait up to ``grace`` s
        for units in flight (handing those that finish to the sink when
        ``record``), then ``finish``."""

    def abort(self) -> None:
        """Kill every worker now; units in flight are lost, results already written
        stay. Safe from any thread (a signal handler), more than once, in any state."""

    @property
    def pids(self) -> list[int | None]:
        """Each device's worker process id (None: none, or not known yet)."""

    @property
    def nodes(self) -> list[str]:
        """Each device's cluster node ("" where there is none, or it is not placed yet)."""


class Sink(Protocol):
    """Where finished units go (the runner: manifest, per-file merges, journal).
    Called from the dispatcher thread, outside the coordinator's lock."""

    def unit_done(self, index: int, flight: InFlight, done: Done) -> None: ...

    def unit_failed(self, index: int, flight: InFlight, failed: Failed) -> None: ...

    def setup_failed(self, index: int, failed: SetupFailed) -> None: ...

    def tick(self, sample: bool) -> None:
        """Every loop pass: write new events; ``sample``: a refresh is due (metrics)."""
