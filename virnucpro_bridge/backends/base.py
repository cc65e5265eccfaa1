"""The backend contract: what a backend provides, what it may call on the coordinator,
and where finished units go.

    Run.start ─▶ Backend(coord, devices, options, task_name=, outputs=, sink=, status=, wakeup=, out_dir=)
              ─▶ start()             one worker per device (pids for run.json)
    dispatcher thread ─▶ run()      until the work is done, or a stop ends it
                      ─▶ finish()   after run() returned
                      ─▶ abort() + finish(), or wind_down(grace), after run() raised
    signal handler, main thread ─▶ abort()

A backend drives the coordinator through ``Scheduler`` only: from its one
dispatcher thread, holding ``lock``, it reports what its workers say and asks
what to send; once per loop pass it runs the coordinator's ``Housekeeping``.
Results go to a ``Sink`` outside the lock. ``backends/local`` (processes and
pipes) and ``backends/ray`` (actors) implement ``Backend``;
``tests/integration/contract.py`` drives both through the same calls.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from ..coordinator.device_book import DeviceBook, InFlight
from ..coordinator.housekeeping import Housekeeping
from ..coordinator.messages import Cut, Done, Failed, Report, Reports, SetupFailed
from ..inputs.units import Unit


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


class Scheduler(Protocol):
    """What a backend may call on the coordinator (``coordinator.Coordinator``). All of
    it from the dispatcher thread with ``lock`` held, except ``read_reports``."""

    @property
    def lock(self) -> threading.RLock: ...

    @property
    def books(self) -> Sequence[DeviceBook]:
        """Each device's state, to read (ready, dead, drained, in_flight, sent, queue, spec)."""

    @property
    def stopping(self) -> bool:
        """No new work is handed out."""

    def housekeeping(self) -> Housekeeping:
        """The per-pass rules (stops, drains, restarts, stalls, readings), for the loop."""

    def read_reports(self) -> dict[int, Report]:
        """A copy of the workers' reports (IPC for local workers: without the lock)."""

    # -- workers --------------------------------------------------------------------------
    def worker_started(self, index: int, pid: int | None) -> None:
        """Device ``index`` has a new worker process, not set up yet."""

    def device_ready(self, index: int, pid: int | None = None) -> None:
        """Its worker finished setup and takes work."""

    def device_named(self, index: int, name: str, weight: float, known: bool) -> None:
        """Its worker named the device (a GPU found where it runs): name and capability weight."""

    def setup_failed(self, index: int, error: str) -> bool:
        """Its worker's setup failed. True: start a fresh one (housekeeping says when); False: dead."""

    def device_died(self, index: int, reason: str, *, verb: str = "died") -> InFlight | None:
        """Its worker is gone unasked: its unit is requeued, its queue handed out."""

    def worker_gone(self, index: int) -> None:
        """Its worker process is gone (asked or not): it holds no unit sent ahead."""

    def restart_stalled(self, index: int) -> bool:
        """It stalled: True, kill its worker and start a fresh one; False, kill it (dead)."""

    # -- units ----------------------------------------------------------------------------
    def fastest_first(self) -> list[int]:
        """Device indices, fastest first: the order idle devices look for work in."""

    def base_rate(self) -> float: ...

    def rate(self, book: DeviceBook, scale: float | None = None) -> float:
        """Estimated work (cost units) per second of ``book``'s device."""

    def next_unit(self, index: int, allow_steal: bool = True) -> InFlight | None:
        """The unit device ``index`` runs next (now in flight), or None."""

    def next_attempt(self, unit: Unit) -> int:
        """Which attempt ``unit`` will be when it starts (for units sent ahead)."""

    def send_ahead(self, index: int, budget_s: float, most: int) -> list[Unit]:
        """Queued units to send to device ``index``'s worker ahead of their turn."""

    def needs_withdraw(self, index: int) -> bool:
        """Its worker holds units sent ahead it may not start now: send a withdrawal."""

    def withdraw_all(self, index: int) -> bool:
        """Winding down: whether its worker must be told to drop what it holds ahead."""

    def withdrawn(self, index: int, count: int) -> None:
        """Its worker dropped its last ``count`` units sent ahead."""

    def unit_done(self, index: int, sequences: int, seconds: float, uid: str = "") -> InFlight:
        """Its unit (``uid``, or the one in flight) is done; hand the flight to the sink."""

    def unit_failed(self, index: int, error: str, permanent: bool = False,
                    device_fault: bool = False, uid: str = "") -> tuple[InFlight, bool]:
        """Its unit failed: retried elsewhere, or failed. (flight, retried)."""

    def unit_interrupted(self, index: int, uid: str = "") -> InFlight | None:
        """Its unit could not be finished, through no fault of its own: requeued."""

    def find_cut(self, thief: int, reports: Reports | None = None) -> tuple[int, Cut] | None:
        """Idle ``thief`` found nothing to steal: (victim, Cut) to send, or None."""

    def stop_cuts(self, reports: Reports | None = None) -> list[tuple[int, Cut]]:
        """A stop is under way: (victim, Cut) for each unit in flight to end at its next
        boundary, sent like ``find_cut``'s; answered through ``cut_answered``."""

    def cut_answered(self, victim: int, uid: str, at: tuple[int, int] | None) -> tuple[int, InFlight] | None:
        """The victim's answer to a Cut: (thief, flight) to send the tail to, or None."""

    def work_left(self) -> bool:
        """Units in flight, held by a worker, or queued (and not stopping)."""

    def can_progress(self) -> bool:
        """False when units are queued but no live device can ever take them."""

    def info(self, message: str, level: str = "info") -> None:
        """A line for the run's event log."""


class Sink(Protocol):
    """Where finished units go (the runner: manifest, per-file merges, journal).
    Called from the dispatcher thread, outside the coordinator's lock."""

    def unit_done(self, index: int, flight: InFlight, done: Done) -> None: ...

    def unit_failed(self, index: int, flight: InFlight, failed: Failed) -> None: ...

    def setup_failed(self, index: int, failed: SetupFailed) -> None: ...

    def tick(self, sample: bool) -> None:
        """Every loop pass: write new events; ``sample``: a refresh is due (metrics)."""
