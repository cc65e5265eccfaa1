"""The boundary between the engine and any UI: what a UI reads and what it may ask.

    snapshot.py  frozen views of a run (RunSnapshot, DeviceView, RunEvent, ...)
    control.py   the two small interfaces a UI depends on (SnapshotSource, RunCommands)
    wire.py      snapshots as JSON by field name (never pickles); messages as frames
    endpoint.py  where the channel's socket and key live, private modes, socket deadlines
    channel.py   the run's private control channel that ``lbtui attach`` connects to

May import: ``virnucpro_bridge.errors`` and the standard library. Everything else
in the engine builds on these types, so they depend on nothing of it; the channel
serves any object with the two interfaces, not the coordinator by name.
"""

from .control import CommandError, RunCommands, SnapshotSource

__all__ = ["CommandError", "RunCommands", "SnapshotSource"]
