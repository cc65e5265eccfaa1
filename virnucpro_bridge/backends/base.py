"""What every backend shares: the stall actions it offers and where its finished units go."""

from __future__ import annotations

from typing import Protocol

from ..coordinator.device_book import InFlight
from ..coordinator.messages import Done, Failed, SetupFailed

STALL_ACTIONS = ("flag", "restart")


class Sink(Protocol):
    """Where finished units go (the runner: manifest, per-file merges, journal).
    Called from the dispatcher thread, outside the coordinator's lock."""

    def unit_done(self, index: int, flight: InFlight, done: Done) -> None: ...

    def unit_failed(self, index: int, flight: InFlight, failed: Failed) -> None: ...

    def setup_failed(self, index: int, failed: SetupFailed) -> None: ...

    def tick(self, sample: bool) -> None:
        """Every loop pass: write new events; ``sample``: a refresh is due (metrics)."""
