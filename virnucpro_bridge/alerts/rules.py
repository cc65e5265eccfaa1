"""Which moments of a run deserve an alert (pure: times and snapshots are passed in).

    finished / interrupted / aborted   the run ended (exit 0 or 1 / 130 / 2 or 3)
    device_retired                     a device left the run for good (retired, or its worker died)
    stalled                            a device made no progress on its unit for --stall-timeout
    slow                               the run's throughput stayed below half its median for 10 minutes

The slow rule samples the run's rolling throughput at most every SAMPLE_S while
work is queued (at the end of a run devices run dry and throughput falls by
design), needs MIN_SAMPLES of history before it judges, leaves samples of a slow
stretch out of the median (or ten slow minutes would drag the bar down to
them), fires once per slow stretch and re-arms when throughput is back above
the threshold.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from ..control import snapshot as S

SLOW_FACTOR = 0.5  # "below half the run's median"
SLOW_FOR_S = 600.0  # ... "for 10 minutes"
SAMPLE_S = 10.0  # one sample per 10 s into the median: a day is 8,640 floats
MIN_SAMPLES = 30  # 5 minutes of history before a median is worth comparing against

FINISHED, INTERRUPTED, ABORTED = "finished", "interrupted", "aborted"
DEVICE_RETIRED, STALLED, SLOW = "device_retired", "stalled", "slow"
EVENTS = (FINISHED, INTERRUPTED, ABORTED, DEVICE_RETIRED, STALLED, SLOW)


@dataclass(frozen=True)
class Alert:
    event: str  # one of EVENTS: LBTUI_EVENT
    message: str  # one line for a person: LBTUI_MESSAGE
    exit_code: int | None = None  # the run's, for the end events
    device: str | None = None  # 'GPU2', for device events


class SlowWatch:
    """Throughput below ``factor`` × the run's median for ``hold_s``: one alert per stretch."""

    def __init__(self, factor: float = SLOW_FACTOR, hold_s: float = SLOW_FOR_S, every_s: float = SAMPLE_S,
                 min_samples: int = MIN_SAMPLES) -> None:
        self.factor, self.hold_s, self.every_s, self.min_samples = factor, hold_s, every_s, min_samples
        self._rates: list[float] = []  # sorted
        self._last_sample: float | None = None
        self._low_since: float | None = None
        self._fired = False

    @property
    def median(self) -> float | None:
        n = len(self._rates)
        if n < self.min_samples:
            return None
        mid = n // 2
        return self._rates[mid] if n % 2 else (self._rates[mid - 1] + self._rates[mid]) / 2

    def sample(self, now: float, rate: float | None, eligible: bool) -> str | None:
        """Feed one reading; the alert's message when the stretch has lasted ``hold_s``."""
        if not eligible or rate is None:
            self._low_since = None  # a pause in the judging: a new stretch starts from scratch
            return None
        median = self.median
        low = median is not None and rate < self.factor * median
        if not low and (self._last_sample is None or now - self._last_sample >= self.every_s):
            bisect.insort(self._rates, rate)  # a slow stretch does not move the bar it is measured by
            self._last_sample = now
        if not low:
            self._low_since, self._fired = None, False
            return None
        if self._low_since is None:
            self._low_since = now
        if self._fired or now - self._low_since < self.hold_s:
            return None
        self._fired = True
        return (f"throughput {rate:,.1f} seq/s has stayed below half the run's median "
                f"({median:,.1f} seq/s) for {(now - self._low_since) / 60:.0f} minutes")


class AlertRules:
    """Turns the run's snapshots into alerts: each device death and stall once, slow stretches."""

    def __init__(self, slow: SlowWatch | None = None) -> None:
        self.slow = slow or SlowWatch()
        self._last_seq = 0
        self._dead: set[int] = set()

    def observe(self, snap: S.RunSnapshot) -> list[Alert]:
        alerts = []
        for e in snap.events:
            if e.seq <= self._last_seq:
                continue
            self._last_seq = e.seq
            if e.kind == S.EV_STALL:
                label = next((d.label for d in snap.devices if d.index == e.device), None)
                alerts.append(Alert(STALLED, e.message, device=label))
        for d in snap.devices:
            if d.state == S.DEAD and d.index not in self._dead:
                self._dead.add(d.index)
                alerts.append(Alert(DEVICE_RETIRED, f"{d.label} ({d.name}) {d.reason or 'is out of the run'}",
                                    device=d.label))
        working = not snap.finished and not snap.stopping and any(d.queue_depth for d in snap.devices)
        said = self.slow.sample(snap.time, snap.throughput, working)
        if said:
            alerts.append(Alert(SLOW, said))
        return alerts


def ending(summary: dict[str, Any], exit_code: int, error: str | None) -> Alert:
    """The alert for a run that has ended with ``exit_code`` (summary.json's figures)."""
    event = INTERRUPTED if exit_code == 130 else ABORTED if exit_code not in (0, 1) else FINISHED
    done, total = summary.get("files_done", "?"), summary.get("files_total", "?")
    failed = summary.get("files_failed") or 0
    what = {FINISHED: "finished" + (f" with {failed} failed unit(s)" if failed else ""),
            INTERRUPTED: "was interrupted (run the same command again to resume)",
            ABORTED: "was aborted" + (f": {error}" if error else "")}[event]
    run = summary.get("run") or {}
    many = isinstance(run.get("sessions"), int) and run["sessions"] > 1
    sessions = f" over {run['sessions']} sessions" if many else ""
    return Alert(event, f"the run {what}: {done}/{total} units{sessions}, exit {exit_code}", exit_code=exit_code)
