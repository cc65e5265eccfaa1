"""The planner's bookkeeping done the straightforward way (a tuple per segment, a list
of Python floats, kept to the end): what ``plan._Left`` must match unit for unit
(tests/engine/inputs/test_plan_reference.py) and what its memory is measured against
(benchmarks/bench_plan.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from virnucpro_bridge.inputs import plan as plan_module
from virnucpro_bridge.inputs.work import Position


class PlainLeft:
    """What is left to plan: the segments and their costs, as given."""

    def __init__(self) -> None:
        self.segments: list[tuple[int, Position, Position | None]] = []
        self.costs: list[float] = []

    def add(self, n: int, cost: float, begin: Position = plan_module.ORIGIN, stop: Position | None = None) -> None:
        self.segments.append((n, begin, stop))
        self.costs.append(cost)

    def piece_costs(self, pieces: Callable[[Sequence[float]], list[list[float]]]) -> list[list[float]]:
        return pieces(self.costs)

    def __iter__(self) -> Iterator[tuple[int, Position, Position | None]]:
        return iter(self.segments)
