"""The run's totals: units and sequences planned and done, when work started and ended."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..policy.throughput import Throughput


@dataclass
class RunCounts:
    units_total: int  # planned, plus the tails of cuts
    sequences_total: int
    units_skipped: int = 0  # done by an earlier run (resume)
    units_done: int = 0
    sequences_done: int = 0
    cost_done: float = 0.0
    splits_total: int = 0
    first_dispatch: float | None = None  # makespan: first dispatch to last completion
    last_completion: float | None = None
    throughput: Throughput = field(default_factory=Throughput)

    def unit_done(self, now: float, sequences: int, duration: float, cost: float) -> None:
        self.units_done += 1
        self.sequences_done += sequences
        self.cost_done += cost
        self.throughput.add(now, sequences, duration)
        self.last_completion = now
