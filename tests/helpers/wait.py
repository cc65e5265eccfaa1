"""Condition waits for tests: poll for the state a test needs, never sleep a fixed time.

A fixed sleep is either too short on a loaded machine (the test fails) or
too long on an idle one (the suite crawls). These poll a predicate until it
holds, with a timeout generous enough for a machine whose cores are all busy,
and fail with a message that names what never happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT_S = 60.0  # generous: a test that waits this long has found a hang, not a slow machine
INTERVAL_S = 0.05


def wait_for(predicate: Callable[[], T], timeout: float = TIMEOUT_S, what: str = "condition",
             interval: float = INTERVAL_S) -> T:
    """Call ``predicate`` until it returns something truthy; return that value.

    Raises AssertionError after ``timeout`` seconds, naming ``what`` and the
    last value seen, so a failure says which state never came.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


async def wait_for_async(predicate: Callable[[], T], timeout: float = TIMEOUT_S, what: str = "condition",
                         pause: Callable[[], Awaitable[object]] | None = None) -> T:
    """``wait_for`` for an event loop: ``pause`` yields between polls
    (e.g. ``lambda: pilot.pause(0.1)`` so a Textual app keeps processing)."""
    pause = pause or (lambda: asyncio.sleep(INTERVAL_S))
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {value!r})")
        await pause()
