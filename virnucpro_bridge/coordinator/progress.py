"""Where each running unit is: its work (priced by position) and the victim's progress on it.

Stealing (how soon a busy device will be free), in-flight cuts (where to cut)
and the dashboard (how much of a unit is done) all ask the same questions of
a worker's last progress report; they are answered here once. ``reports``
is the copy of the workers' reports taken at the last housekeeping tick.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..inputs.record_index import RecordIndex
from ..inputs.units import Unit, work_of
from ..inputs.work import Parts, Position, Work
from .device_book import InFlight
from .messages import Report, Reports


class UnitProgress:
    def __init__(self, indexes: Mapping[str, RecordIndex], parts: Parts | None) -> None:
        """``indexes`` (by input path) and ``parts`` (the task's rule) price a unit's
        positions in work; without them a unit is priced by its records."""
        self.indexes = dict(indexes)
        self.parts = parts
        self.reports: Reports = {}  # the workers' last reports, from the last tick

    def note(self, reports: Reports) -> None:
        """The workers' reports as read at this tick (progress on running units)."""
        self.reports = reports

    def work(self, unit: Unit) -> Work:
        return work_of(unit, self.indexes.get(unit.path), self.parts)

    def reached(self, flight: InFlight, report: Report | None) -> tuple[Position, float] | None:
        """The position the worker last reported on its unit, and when (None: no report yet)."""
        unit = flight.unit
        if not report or report.get("unit") != unit.uid or not report.get("progress_time"):
            return None
        records, part = int(report.get("progress") or 0), int(report.get("part") or 0)
        pos = Position(unit.start + records, part)
        if records == 0 and part < unit.part:
            pos = unit.begin
        return min(max(pos, unit.begin), unit.stop), float(report["progress_time"])

    def estimate(self, flight: InFlight, work: Work, rate: float, now: float,
                 report: Report | None) -> tuple[Position, float, float]:
        """The reached position, the work done (cost from the unit's start, moved on
        since the report) and the speed on this unit (cost units/s): measured from
        the last progress report when there is one (a device that has finished
        nothing yet has only a prior, ``rate``, which can be far off)."""
        unit = flight.unit
        pos, since, done = unit.begin, flight.started, 0.0
        seen = self.reached(flight, report)
        if seen is not None:
            reported, at = seen
            cost = work.cost(unit.begin, reported)
            if cost > 0 and at > flight.started:
                pos, since, done = reported, at, cost
                rate = cost / (at - flight.started)
        return pos, done + max(0.0, now - since) * rate, rate

    def fraction(self, flight: InFlight, report: Report | None) -> float | None:
        """How much of the running unit is done, by work (for the dashboard)."""
        seen = self.reached(flight, report)
        if seen is None:
            return None
        work = self.work(flight.unit)
        total = work.cost(flight.unit.begin, flight.unit.stop)
        return min(1.0, work.cost(flight.unit.begin, seen[0]) / total) if total > 0 else 1.0
