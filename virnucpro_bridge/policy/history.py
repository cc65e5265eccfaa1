"""A whole-run time series in bounded memory.

The device detail screen plots throughput and utilization from the first
sample to now. Rather than keep the last N samples (which forgets the start
of a long run), :class:`History` halves its resolution whenever it fills:
adjacent points are averaged in pairs, and from then on each point stands
for twice as many samples. Memory stays at ``max_points``; the span is the
whole run.
"""

from __future__ import annotations

MAX_POINTS = 600  # about two screen widths of sparkline; a few KB per series


class History:
    """(time, value) samples of one series, downsampled by doubling strides."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        if max_points < 2:
            raise ValueError(f"max_points must be >= 2, got {max_points}")
        self.max_points = max_points
        self.stride = 1  # samples averaged into each point
        self._points: list[tuple[float, float]] = []  # full buckets: mean time, mean value
        self._t = self._v = 0.0  # sums over the bucket being filled
        self._n = 0

    def add(self, t: float, value: float | None) -> None:
        """Add a sample; None (no reading) is skipped."""
        if value is None:
            return
        self._t += t
        self._v += value
        self._n += 1
        if self._n < self.stride:
            return
        self._points.append((self._t / self._n, self._v / self._n))
        self._t = self._v = 0.0
        self._n = 0
        if len(self._points) >= self.max_points:
            self._halve()

    def _halve(self) -> None:
        pts = self._points
        self._points = [
            ((pts[i][0] + pts[i + 1][0]) / 2, (pts[i][1] + pts[i + 1][1]) / 2)
            for i in range(0, len(pts) - 1, 2)
        ]
        if len(pts) % 2:
            # An odd last point is half a new bucket: it keeps filling.
            t, v = pts[-1]
            self._t, self._v, self._n = t * self.stride, v * self.stride, self.stride
        self.stride *= 2

    def points(self) -> tuple[tuple[float, float], ...]:
        """The series, oldest first, at most ``max_points`` long (the last one may be partial)."""
        if self._n:
            return (*self._points, (self._t / self._n, self._v / self._n))
        return tuple(self._points)

    def __len__(self) -> int:
        return len(self._points) + (1 if self._n else 0)
