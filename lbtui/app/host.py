"""What the app's mixins (refresh, actions, quitting) use of LbtuiApp, declared once.

For the type checker only: ``AppHost`` is ``App[None]`` plus the state and methods
LbtuiApp (or another mixin) defines, so each mixin's use of them is checked. At run
time it is ``object``, and the mixins stay plain classes mixed into LbtuiApp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.app import App
    from textual.timer import Timer

    from virnucpro_bridge.control import RunCommands, SnapshotSource
    from virnucpro_bridge.control import snapshot as snap

    class AppHost(App[None]):
        source: SnapshotSource
        commands: RunCommands
        snapshot: snap.RunSnapshot | None
        attached: bool
        read_only: bool
        poll: bool
        clock: Callable[[], float]
        refresh_s: float
        fetch_failed: bool
        _timer: Timer | None
        _quitting: bool

        def apply_snapshot(self, snapshot: snap.RunSnapshot) -> None: ...

        def show_header(self) -> None: ...

        def device_label(self, index: int) -> str: ...

        def selected_device(self) -> snap.DeviceView | None: ...

        def refetch(self) -> None: ...

else:
    AppHost = object
