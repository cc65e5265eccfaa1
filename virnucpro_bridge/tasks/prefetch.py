"""Run an iterator in a thread of its own, a bounded number of items ahead.

    producer thread:  source ─► item ─► queue (maxsize = depth) ─┐
    consumer thread:  for item in Prefetch(source): ... ◀────────┘

A task uses it to prepare the next batch on the host (reading, tokenising)
while the device runs the current one. Items arrive in the source's order;
an exception the source raises is raised in the consumer, with its
traceback, where that item would have come. ``close`` (or leaving the
``with`` block, also by an exception) stops the producer at its next item
and closes the source in the producer's own thread (a generator can only be
closed by the thread that runs it). The consumer's waits run inside
``waiting()`` (a task counts them as its "input" phase); ``start()`` runs
first in the producer thread (thread-local set-up: CUDA's current device is
per thread, and pinning memory uses it).
"""

from __future__ import annotations

import enum
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Generic, TypeVar

T = TypeVar("T")
PUT_POLL_S = 0.05  # how often a producer blocked on a full queue looks for close()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _End(enum.Enum):
    END = "end"


_END = _End.END  # the source is exhausted


class Prefetch(Generic[T]):
    """``source``'s items, produced in a daemon thread up to ``depth`` ahead."""

    def __init__(self, source: Iterator[T], depth: int = 1,
                 waiting: Callable[[], AbstractContextManager[object]] = nullcontext, name: str = "lbtui-prefetch",
                 start: Callable[[], None] | None = None) -> None:
        self._source, self._start = source, start
        self._queue: queue.Queue[T | _Raised | _End] = queue.Queue(maxsize=max(1, depth))
        self._closed = threading.Event()
        self._waiting = waiting
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        with self._waiting():
            item = self._queue.get()
        if item is _END:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Raised):
            self._finished = True
            raise item.exc
        return item

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the producer and wait for it (it finishes the item it is making)."""
        self._closed.set()
        self._finished = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=PUT_POLL_S)  # unblock a producer waiting to put
            except queue.Empty:
                pass
        self._thread.join()

    def _put(self, item: T | _Raised | _End) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            if self._start is not None:  # thread-local set-up, e.g. the CUDA device for pinned memory
                self._start()
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(_Raised(exc))
        else:
            self._put(_END)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
