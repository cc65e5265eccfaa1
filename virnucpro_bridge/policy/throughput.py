"""Rolling throughput and stall detection (pure: times are passed in).

Throughput is sequences/s over the units completed in the last ``window_s``
seconds, or over the last ``min_units`` completions when the window holds
fewer: a slow GPU finishing one large file a minute still shows a rate
instead of flickering between a number and nothing.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

WINDOW_S = 60.0  # long enough to smooth unit-size noise, short enough to show a slowdown within a minute
MIN_UNITS = 10  # ... "or the last 10 units"
# ... but never more than this many completions: thousands of tiny units a second must
# not make the window hold hundreds of thousands (the rate is exact long before that).
MAX_UNITS = 2_000


class _Completion(NamedTuple):
    end: float
    sequences: int
    start: float  # end - duration


class Throughput:
    """Sequences per second over recent completions.

    ``rate`` is O(1): a snapshot asks it for every device several times a second,
    under the coordinator's lock, while thousands of tiny units a second keep the
    window at ``MAX_UNITS``. So the window's sequences are kept as a running sum,
    and its earliest start by a monotonic deque (the completions whose start no
    later completion undercuts, in order)."""

    def __init__(self, window_s: float = WINDOW_S, min_units: int = MIN_UNITS) -> None:
        if window_s <= 0 or min_units < 1:
            raise ValueError(f"bad throughput window: {window_s} s, {min_units} units")
        self.window_s = window_s
        self.min_units = min_units
        self._done: deque[_Completion] = deque()  # ordered by end time
        self._sequences = 0  # over _done
        self._starts: deque[_Completion] = deque()  # candidates for the earliest start, starts rising

    def add(self, end_time: float, sequences: int, duration: float) -> None:
        """Record a completed unit (``duration`` seconds, ending at ``end_time``)."""
        item = _Completion(end_time, sequences, end_time - max(0.0, duration))
        # Reports from several workers may arrive slightly out of order:
        # walk back from the end (a few steps at most) to keep end-time order.
        i = len(self._done)
        while i and self._done[i - 1].end > end_time:
            i -= 1
        self._done.insert(i, item)
        self._sequences += sequences
        if i == len(self._done) - 1:
            while self._starts and self._starts[-1].start >= item.start:
                self._starts.pop()
            self._starts.append(item)
        else:  # inserted before others (rare): rebuild the candidates
            self._starts.clear()
            for c in self._done:
                while self._starts and self._starts[-1].start >= c.start:
                    self._starts.pop()
                self._starts.append(c)
        self._prune(self._done[-1].end)

    def _prune(self, now: float) -> None:
        # Anything older than the window only ever counts as one of the last
        # min_units, and time only moves forward: drop the rest.
        cutoff = now - self.window_s
        while len(self._done) > self.min_units and self._done[0].end < cutoff:
            self._drop_oldest()
        while len(self._done) > MAX_UNITS:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        item = self._done.popleft()
        self._sequences -= item.sequences
        if self._starts and self._starts[0] is item:
            self._starts.popleft()

    def rate(self, now: float) -> float | None:
        """Sequences/s at ``now`` over what the window holds once pruned (the
        completions of the last ``window_s``, or the last ``min_units``), from the
        earliest start among them; None with no completions (or no elapsed time)."""
        self._prune(now)
        if not self._done:
            return None
        span = now - self._starts[0].start
        return self._sequences / span if span > 0 else None


def is_stalled(now: float, last_progress: float | None, holding_work: bool, threshold: float) -> bool:
    """No progress for ``threshold`` seconds while holding work.

    A device without work is never stalled; ``last_progress`` None means no
    reference time yet (the caller should pass the time work was handed over).
    """
    if not holding_work or last_progress is None:
        return False
    return now - last_progress >= threshold
