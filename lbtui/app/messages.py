"""Messages that worker threads post to the app (past tense, as Textual names them)."""

from __future__ import annotations

from textual.message import Message

from virnucpro_bridge.control.snapshot import DeviceDetail, RunSnapshot


class SnapshotReady(Message):
    """A snapshot was fetched off the event loop."""

    def __init__(self, snapshot: RunSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SnapshotFailed(Message):
    """Fetching a snapshot raised; ``error`` holds the traceback text."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DetailReady(Message):
    """A device's long view was fetched for the detail screen."""

    def __init__(self, detail: DeviceDetail) -> None:
        super().__init__()
        self.detail = detail


class CommandFinished(Message):
    """A command returned (``ok``) or raised; ``text`` is its message or error."""

    def __init__(self, label: str, ok: bool, text: str) -> None:
        super().__init__()
        self.label = label
        self.ok = ok
        self.text = text
