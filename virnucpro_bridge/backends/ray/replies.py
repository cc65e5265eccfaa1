"""The driver's side of the replies, outside the coordinator's lock.

``wait_replies`` waits on every pending actor call (or the wake-up pipe),
fetches what is ready, turns a dead actor's error into ``ActorGone``, and
unpacks each ``Collected`` batch against the lanes: a cut's answer or a
finished unit of the ticket the coordinator has in flight goes on; a unit
sent ahead has its result written too and its reply waits in its lane until
the coordinator gets to that unit; anything else is void and dropped. The
batch's results are written here, several at once, so no file I/O happens
under the lock. ``RayPool`` holds one; it is handed what it reads.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ...coordinator.messages import Done, Failed, Wakeup
from ...errors import environment_error
from ...inputs.units import Unit
from ...runfiles.atomic import atomic_open
from ...runfiles.vouch import digest_bytes
from ..base import Scheduler
from .calls import PendingCalls
from .lanes import Lanes
from .protocol import Collected, CutAnswer, Placement, UnitReply

WAIT_S = 0.1  # longest the loop sleeps in ray.wait: bounds how late a command is acted on
WRITERS = 4  # threads writing one pass's results: creating files is latency, not CPU


class ActorGone:
    """A call's actor died (killed, its process or node lost), or its replies were lost."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def actor_error_line(exc: BaseException) -> str:
    """One line for the dashboard from Ray's multi-line actor errors."""
    if type(exc).__name__ == "ActorUnavailableError":  # its connection broke: process or node gone
        return "actor lost: unreachable (its process or its node is gone)"
    text = str(exc)
    for key in ("killed by", "SIGKILL", "node", "ray.kill", "exited"):
        for line in text.splitlines():
            if key in line:
                return f"actor lost: {line.strip()[:160]}"
    return f"actor lost ({type(exc).__name__})"


class Replies:
    def __init__(self, calls: PendingCalls, lanes: Lanes, coord: Scheduler, wakeup: Wakeup,
                 placements: Sequence[Placement | None], outputs: Callable[[Unit], str], out_dir: str) -> None:
        """``placements``: where each device's actor runs (its node names a result);
        ``outputs``: a unit's result path; ``out_dir``: --out, for disk errors."""
        self.calls, self.lanes, self.coord, self.wakeup = calls, lanes, coord, wakeup
        self.placements, self.outputs, self.out_dir = placements, outputs, out_dir
        self.reported_at = [0.0] * len(placements)  # monotonic time of each device's last readings
        self.writers: ThreadPoolExecutor | None = None  # result writers, started when a batch has several

    def wait(self) -> list[tuple[str, int, object]]:
        """Every reply ready within WAIT_S (or a wake-up), as (kind, device, value):
        kind "cut" (a CutAt) and "unit" (Done or Failed) come from collect batches."""
        import ray

        refs = list(self.calls.refs)
        if refs:
            done, rest = ray.wait(refs, num_returns=1, timeout=WAIT_S)
            if done and rest:
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                done += more
        else:
            done = []
            select.select([self.wakeup], [], [], WAIT_S)
        self.wakeup.clear()
        replies: list[tuple[str, int, Any]] = []
        for ref in done:
            taken = self.calls.take(ref)
            if taken is None or not taken.current:
                continue  # from an actor that was replaced or is gone
            kind, i = taken.kind, taken.device
            value = get(ref)
            if kind == "collect" and isinstance(value, Collected):
                replies += self.unpack(i, value)
            elif kind == "collect" and not isinstance(value, ActorGone):
                # The batch is lost (e.g. its object was on a node that died): so are the
                # units it finished. Only a fresh start makes them certain: the device is lost.
                replies.append((kind, i, ActorGone(f"replies lost: {type(value).__name__}: {value}")))
            else:
                replies.append((kind, i, value))
        return self.written(replies)

    def unpack(self, i: int, batch: Collected) -> list[tuple[str, int, Any]]:
        """A batch's items, in order: ("cut", i, CutAt), ("unit", i, (UnitReply, skew, path))
        for the ticket in flight, ("early", ...) for one sent ahead (results not written
        yet: ``written``), ("report", i, readings)."""
        out: list[tuple[str, int, Any]] = []
        skew = time.time() - batch.clock
        flight = self.coord.books[i].in_flight
        for item in batch.items:
            what = self.lanes.which(i, item.ticket)
            if isinstance(item, CutAnswer):
                if what == "running":
                    out.append(("cut", i, item.answer))
            elif what == "running" and flight is not None:
                out.append(("unit", i, (item, skew, flight.output or self.outputs(flight.unit))))
            elif what == "ahead":
                # Not cut (only a unit in flight is), so its result goes where the
                # unit's own would: written now, with the batch, used once promoted.
                unit = self.lanes[i].ahead[item.ticket].unit
                out.append(("early", i, (item, skew, self.outputs(unit))))
        if batch.report is not None:
            self.reported_at[i] = time.monotonic()
            out.append(("report", i, batch.report))
        return out

    def written(self, replies: list[tuple[str, int, Any]]) -> list[tuple[str, int, object]]:
        """Write the results of the units among ``replies`` (several at once: a local
        backend's workers write theirs in parallel too) and put Done or Failed in place;
        those of tickets sent ahead wait in their lane."""
        units = [(kind, i, value) for kind, i, value in replies if kind in ("unit", "early")]
        if len(units) > 1:
            if self.writers is None:
                self.writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="lbtui-results")
            written = iter(list(self.writers.map(lambda u: self._write_result(u[1], *u[2]), units)))
        else:
            written = iter([self._write_result(i, *value) for _, i, value in units])
        out: list[tuple[str, int, object]] = []
        for kind, i, value in replies:
            if kind == "early":
                self.lanes[i].early[value[0].ticket] = next(written)
            elif kind == "unit":
                out.append((kind, i, next(written)))
            else:
                out.append((kind, i, value))
        return out

    def _write_result(self, i: int, item: UnitReply, skew: float, path: str) -> Done | Failed:
        """Write a unit's returned bytes where a local worker would have written them."""
        reply = item.reply
        if isinstance(reply, Failed):
            return reply
        if not isinstance(reply, Done) or item.result is None:
            return Failed("no result returned", "", permanent=False)
        try:
            with atomic_open(path, "wb") as fh:
                fh.write(item.result)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = path
            return Failed(f"{type(exc).__name__}: {exc}", "", permanent=False,
                          environment=environment_error(exc, self.out_dir))
        placement = self.placements[i]
        node = placement.node_id if placement is not None else ""
        sha, size = digest_bytes(item.result)
        return replace(reply, started=reply.started + skew, ended=reply.ended + skew, node=node,
                       output_sha256=sha, output_size=size)

    def close(self) -> None:
        if self.writers is not None:
            self.writers.shutdown(wait=True)


def get(ref: Any) -> object:
    """The call's value; a dead actor's error as ``ActorGone``; other errors as values."""
    import ray
    from ray.exceptions import RayActorError

    try:
        return ray.get(ref)
    except RayActorError as exc:
        return ActorGone(actor_error_line(exc))
    except Exception as exc:  # noqa: BLE001 - the call itself failed (e.g. unpicklable reply)
        return exc
