"""The two small interfaces a UI depends on.

A UI needs something that returns snapshots and something that takes
commands. The local :class:`~virnucpro_bridge.coordinator.Coordinator`
implements both; a fake in the tests does too, and a later remote backend
(another process, a Ray cluster) only has to provide these methods.

All methods may block briefly (Manager proxies, NVML): call them off the UI's
event loop.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .snapshot import DeviceDetail, RunSnapshot


@runtime_checkable
class SnapshotSource(Protocol):
    def snapshot(self) -> RunSnapshot:
        """The whole run now, as frozen plain data."""

    def device_detail(self, index: int) -> DeviceDetail:
        """One device's history over the whole run. Raises IndexError for a bad index."""


@runtime_checkable
class RunCommands(Protocol):
    """Commands from a UI. Each returns a short human message describing what
    happened; a command that cannot be carried out raises ``CommandError``."""

    def pause(self, index: int) -> str:
        """Finish the current unit, then take nothing until resumed."""

    def resume(self, index: int) -> str:
        """Take work again after pause."""

    def drain(self, index: int) -> str:
        """Finish the current unit, give the queue back to the others, stop."""

    def set_stealing(self, enabled: bool) -> str:
        """Turn work stealing on or off for the whole run."""

    def stop(self, now: bool = False) -> str:
        """Hand out no more work. ``now=False``: let units in flight finish;
        ``now=True``: kill the workers at once (their units are lost, written
        results are kept)."""


class CommandError(Exception):
    """A command that cannot be carried out (e.g. drain a dead device)."""
