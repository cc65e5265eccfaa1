"""One run's alerts: the rules over its snapshots, and a Notifier to deliver them.

The runner makes one in ``prepare()`` (bad hooks are refused there, exit 2),
hands it the coordinator once there is one, feeds it each refresh's snapshot
and, at the end, the exit code. A hook's first failure goes into the run's own
log while the run goes; after it has closed out there is no log to take it, so
it is kept for the closing lines (``close``).
"""

from __future__ import annotations

from typing import Any, Protocol

from ..control.snapshot import RunSnapshot
from .hooks import HOOK_TIMEOUT_S, Notifier
from .rules import AlertRules, ending


class RunLog(Protocol):
    """What of the coordinator this needs: its snapshot, its log, whether it has finished."""

    finished: bool
    summary: dict[str, Any] | None

    def snapshot(self) -> RunSnapshot: ...

    def info(self, message: str, level: str = "info") -> None: ...


class RunAlerts:
    def __init__(self, out: str, *, command: str | None, url: str | None) -> None:
        self.notifier = Notifier(out, command=command, url=url, log=self._failed)
        self.rules = AlertRules()
        self.run: RunLog | None = None
        self.late: list[str] = []  # hook failures after the run closed out

    @property
    def active(self) -> bool:
        return self.notifier.active

    def watch(self, run: RunLog) -> None:
        self.run = run

    def observe(self, snap: RunSnapshot) -> None:
        """A refresh's snapshot (the dispatcher thread): what it shows that deserves an alert."""
        if self.active:
            for alert in self.rules.observe(snap):
                self.notifier.send(alert)

    def end(self, code: int, error: str | None, *, look: bool = True) -> None:
        """The run has ended with ``code``: what the last refresh did not see (``look``: a
        device retired just before the end), then the end itself."""
        if not self.active:
            return
        summary = {}
        if self.run is not None:
            summary = self.run.summary or {}
            if look:
                try:
                    self.observe(self.run.snapshot())
                except Exception as exc:  # noqa: BLE001 - the end's own alert must still go out
                    self.late.append(f"alerts: the last look at the run failed: {type(exc).__name__}: {exc}")
        self.notifier.send(ending(summary, code, error))

    def close(self, timeout: float = HOOK_TIMEOUT_S) -> list[str]:
        """Let the last alerts go out (at most ``timeout`` s); the failures no log could take."""
        self.notifier.close(timeout)
        return list(self.late)

    def _failed(self, line: str) -> None:
        if self.run is not None and not self.run.finished:
            self.run.info(line, "warning")
        else:
            self.late.append(line)
