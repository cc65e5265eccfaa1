"""One pass of the Ray dispatcher: replies in, Coordinator calls, work out.

Split from ``ray_backend.py`` the way ``LocalPool._step`` is split from its
wait: ``RayPool._wait`` fetches replies (and writes results) outside the
coordinator's lock; ``LoopStep.run`` hands them to the Coordinator under
the lock, then reads the next units' records and submits them outside it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from ...coordinator.device_book import InFlight
from ...coordinator.housekeeping import Housekeeping
from ...coordinator.messages import Done, Failed, SetupFailed
from ...errors import OutputError
from ...hardware.devices import capability_weight
from .actor import ActorReady, Placement

if TYPE_CHECKING:
    from .backend import RayPool

class LoopStep:
    def __init__(self, pool: RayPool) -> None:
        self.pool = pool
        self.housekeeping = Housekeeping(pool.coord, grace=pool.grace, steal_interval=pool.steal_interval,
                                         refresh=pool.refresh, stall_action=pool.stall_action)
        self.failed_sends: list[tuple[int, Failed]] = []

    def run(self, replies: list[tuple[str, int, object]]) -> tuple[bool, bool]:
        """Returns (going, sample) as ``LocalPool._step`` does."""
        pool, coord = self.pool, self.pool.coord
        tick_due = self.housekeeping.tick_due()
        if tick_due:
            pool.poll_reports()
        reports = coord.read_reports() if tick_due else None
        with coord.lock:
            going, sample, to_send = self._step(replies, reports)
        for i, flight in to_send:  # reading inputs and remote calls stay outside the lock
            failed = pool.send(i, flight)
            if failed is not None:
                self.failed_sends.append((i, failed))
        return going, sample

    def _step(self, replies: list, reports: dict | None) -> tuple[bool, bool, list[tuple[int, InFlight]]]:
        pool, coord = self.pool, self.pool.coord
        just_idle: set[int] = set()
        sends, self.failed_sends = self.failed_sends, []
        for i, failed in sends:
            self._unit_reply(i, failed, just_idle)
        for kind, i, value in replies:
            self._reply(kind, i, value, just_idle)
        now = time.monotonic()
        for i in pool.unplaced(now):
            coord.device_died(i, "Ray could not start its actor (no node has the resources it needs)")
            pool.kill(i)
        if self.housekeeping.must_stop(now):
            pool.abort()
            return False, False, []
        steal_due, sample = self.housekeeping.pass_(now, reports, stop_device=pool.stop_actor,
                                                    restart=pool.restart)
        to_send = []
        for book in coord.books:
            i = book.spec.index
            if book.in_flight is not None or not book.ready or book.dead or book.drained:
                continue
            flight = coord.next_unit(i, allow_steal=steal_due or i in just_idle)
            if flight is not None:
                to_send.append((i, flight))
        return coord.work_left() and coord.can_progress(), sample, to_send

    def _reply(self, kind: str, i: int, value: object, just_idle: set[int]) -> None:
        pool, coord = self.pool, self.pool.coord
        if isinstance(value, ActorGone):
            if i not in pool.expected_exit:
                coord.device_died(i, value.reason)
                pool.kill(i)
        elif kind == "where" and isinstance(value, Placement):
            coord.books[i].pid = value.pid
        elif kind == "setup":
            self._setup_reply(i, value, just_idle)
        elif kind == "run_unit":
            self._unit_reply(i, value, just_idle)
        elif kind == "report" and isinstance(value, dict):
            skew = time.time() - value.pop("clock", time.time())  # the actor's node may keep other time
            for key in ("heartbeat", "progress_time"):
                if value.get(key):
                    value[key] += skew
            pool.status[i] = value
        elif kind == "stop":
            pool.kill(i)

    def _setup_reply(self, i: int, value: object, just_idle: set[int]) -> None:
        pool, coord = self.pool, self.pool.coord
        if isinstance(value, ActorReady):
            book = coord.books[i]
            if book.spec.kind == "cuda":  # the actor names its own GPU: weight from that
                node = pool.placements[i].node_id if pool.placements[i] is not None else ""
                short = pool.node_names.get(node, node[:8])
                weight, known = capability_weight(value.name)
                book.spec = replace(book.spec, name=f"{short}/{value.name}", weight=weight, known=known)
                if pool.weighted:
                    book.weight = weight
                if not known:
                    coord.info(f"{book.spec.label} '{value.name}': unknown model, capability weight 1.0",
                               "warning")
            coord.device_ready(i, value.pid)
            just_idle.add(i)
            return
        if not isinstance(value, SetupFailed):
            value = SetupFailed(f"{type(value).__name__}: {value}", str(value))
        coord.device_died(i, f"setup failed: {value.error}")
        pool.sink_calls.append((pool.sink.setup_failed, (i, value)))
        pool.kill(i)

    def _unit_reply(self, i: int, msg: object, just_idle: set[int]) -> None:
        pool, coord = self.pool, self.pool.coord
        if coord.books[i].in_flight is None:
            return  # its unit was requeued meanwhile (a stall restart): the reply is void
        if isinstance(msg, Done):
            flight = coord.unit_done(i, msg.sequences, msg.seconds)
            pool.sink_calls.append((pool.sink.unit_done, (i, flight, msg)))
            just_idle.add(i)
        elif isinstance(msg, Failed) and msg.environment:
            # The output disk failed, not the unit: it goes back, and the run stops.
            coord.unit_interrupted(i)
            pool.sink_calls.append((_raise_output_error, (msg.environment,)))
        elif isinstance(msg, Failed):
            flight, _ = coord.unit_failed(i, msg.error, permanent=msg.permanent)
            pool.sink_calls.append((pool.sink.unit_failed, (i, flight, msg)))
            just_idle.add(i)
        else:
            raise TypeError(f"unexpected reply from actor {i}: {msg!r}")


def _raise_output_error(message: str) -> None:
    raise OutputError(message)


class ActorGone:
    """A call's actor died (killed, its process or node lost)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def actor_error_line(exc: BaseException) -> str:
    """One line for the dashboard from Ray's multi-line actor errors."""
    text = str(exc)
    for key in ("killed by", "SIGKILL", "node", "ray.kill", "exited"):
        for line in text.splitlines():
            if key in line:
                return f"actor lost: {line.strip()[:160]}"
    return f"actor lost ({type(exc).__name__})"

