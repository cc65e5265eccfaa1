"""The live Textual dashboard.

It depends only on the two interfaces in ``virnucpro_bridge.control``: a
``SnapshotSource`` it polls and ``RunCommands`` it sends a person's keys to, so
the same app can watch a run in this process or another one.
"""

from __future__ import annotations

from virnucpro_bridge.control import RunCommands, SnapshotSource

from .app import LbtuiApp

__all__ = ["LbtuiApp", "run_dashboard"]


def run_dashboard(
    source: SnapshotSource,
    commands: RunCommands,
    *,
    refresh: float = 2.0,
    exit_on_finish: bool = False,
    title: str = "lbtui",
) -> None:
    """Run the dashboard on this terminal until the user quits.

    If units were in flight, the quit dialog has already called
    ``commands.stop(now=...)`` when this returns; the caller finishes the
    engine's shutdown.
    """
    LbtuiApp(source, commands, refresh=refresh, exit_on_finish=exit_on_finish, title=title).run()
