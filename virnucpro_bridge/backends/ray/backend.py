"""The Ray backend: one actor per device, anywhere on a Ray cluster.

A ``Backend`` as ``backends/base.py`` states it, like ``local.pool.LocalPool``,
over the same coordinator (``Scheduler``) and Sink. The dispatcher loop waits
on the actors' pending calls instead of pipes::

    ray.wait(collect | setup | report | cut | ... refs) ─▶ replies (outside the lock)
        collect: [CutAnswer, UnitReply] ─▶ write results atomically ─▶ Coordinator ─▶ Sink
        RayActorError (actor, process or node lost) ─▶ Coordinator.device_died ─▶ requeued
        report ─▶ status[i] (clock-corrected) ─▶ snapshots, stalls, cut points
    idle device ─▶ next_unit ─▶ its records read here ─▶ actor.submit([jobs])
    nothing to steal ─▶ find_cut ─▶ actor.cut ─▶ CutAnswer ─▶ the tail to the thief

Each actor has one ``collect`` call waiting at all times: replies come back
in batches, and with a few short units sent ahead (``lanes.py``) an actor
goes on to its next unit without waiting for the driver. The driver reads
inputs and writes outputs, so the nodes share no file system.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from ...coordinator.housekeeping import TICK_S
from ...coordinator.messages import Cut, CutAt, Done, Failed, Wakeup
from ...errors import UnitError
from ...hardware.devices import DeviceSpec
from ...inputs.units import Unit, read_unit
from ...options import RunOptions
from ..base import Scheduler, Sink
from .actor import MAX_CONCURRENCY, DeviceActor
from .calls import PendingCalls
from .lanes import Lanes, Ticket
from .loop import LoopStep
from .protocol import Collected, Job, Placement, fasta_text
from .replies import Replies, get

PLACE_TIMEOUT_S = 120.0  # an actor not even started by then cannot be placed: the device is dead
START_WAIT_S = 60.0  # start() waits this long for placements (pids and nodes for run.json)
STOP_WAIT_S = 5.0  # finish(): actors get this long to release their models, then are killed


class RayPool:
    def __init__(self, coord: Scheduler, devices: Sequence[DeviceSpec], options: RunOptions, *,
                 task_name: str, outputs: Callable[[Unit], str], sink: Sink, status: MutableMapping[int, Any],
                 wakeup: Wakeup, out_dir: str, pinned: dict[int, str] | None = None,
                 node_names: dict[str, str] | None = None) -> None:
        """``pinned``: device index -> node id for GPU actors (``--gpus all``);
        the other devices go round-robin over ``node_names`` (node id -> short name)."""
        self.coord, self.devices = coord, list(devices)
        self.task_name, self.task_options = task_name, dict(options.task_options)
        self.outputs, self.sink, self.status, self.wakeup = outputs, sink, status, wakeup
        self.pinned, self.node_names = dict(pinned or {}), dict(node_names or {})
        n = len(self.devices)
        self.actors: list[Any] = [None] * n
        self.placements: list[Placement | None] = [None] * n  # changed in place: Replies reads it
        self.spawned_at = [0.0] * n
        self.expected_exit: set[int] = set()
        self.calls = PendingCalls(n)
        self.riding: dict[int, list[Job]] = {}  # jobs that go with the device's next collect call
        self.lanes = Lanes(n)
        self.replies = Replies(self.calls, self.lanes, coord, wakeup, self.placements, outputs, out_dir)
        self.sink_calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []  # made after each pass
        self._ended = False

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> list[int | None]:
        """Create every actor; wait (up to START_WAIT_S) until each has a process."""
        import ray

        for i in range(len(self.devices)):
            self._spawn(i)
        waiting = self.calls.of_kind("where")
        deadline = time.monotonic() + START_WAIT_S
        while waiting and time.monotonic() < deadline:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=0.1)
            for ref in done:
                taken = self.calls.take(ref)
                placement = get(ref)
                if taken is not None and taken.current and isinstance(placement, Placement):
                    i = taken.device
                    self.placements[i] = placement
                    self.coord.worker_started(i, placement.pid)
        return self.pids

    def _spawn(self, i: int) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options: dict[str, Any] = dict(max_concurrency=MAX_CONCURRENCY, max_restarts=0, num_cpus=0)
        ring = list(self.node_names)
        if i in self.pinned:
            options.update(num_gpus=1, scheduling_strategy=NodeAffinitySchedulingStrategy(self.pinned[i], soft=False))
        elif ring:
            # Round-robin over the nodes: Ray's "SPREAD", and even a soft affinity, may
            # stack actors that reserve nothing on one node. They reserve nothing, so
            # any live node can take one; a node lost since is an actor lost (dead device).
            options.update(scheduling_strategy=NodeAffinitySchedulingStrategy(ring[i % len(ring)], soft=False))
        else:
            options.update(scheduling_strategy="SPREAD")
        actor = ray.remote(DeviceActor).options(**options).remote(self.devices[i], self.task_name,
                                                                   self.task_options)
        self.forget(i)
        self.actors[i], self.placements[i] = actor, None
        self.spawned_at[i] = time.monotonic()
        self.expected_exit.discard(i)
        self.calls.call(i, "where", actor.where)
        self.calls.call(i, "setup", actor.setup)

    def forget(self, i: int) -> None:
        """Device ``i``'s actor is gone or being replaced: its pending calls and
        the jobs it held are void (its units were requeued by the coordinator)."""
        self.calls.void(i)
        self.riding.pop(i, None)
        self.lanes.reset(i)

    @property
    def pids(self) -> list[int | None]:
        return [p.pid if p is not None else None for p in self.placements]

    @property
    def nodes(self) -> list[str]:
        """Each device's Ray node id ("" while its actor is not placed)."""
        return [p.node_id if p is not None else "" for p in self.placements]

    # -- the dispatcher loop -----------------------------------------------------
    def run(self) -> None:
        """Dispatch until every unit is done, failed or abandoned, or a stop ends it."""
        step = LoopStep(self)
        while True:
            replies = self.replies.wait()
            going, sample = step.run(replies)
            self._flush_sink()
            self.sink.tick(sample)
            if not going:
                return

    def _flush_sink(self) -> None:
        while self.sink_calls:
            call, args = self.sink_calls.pop(0)
            call(*args)

    # -- calls to the actors (outside coord.lock) ------------------------------------------
    def submit(self, i: int, tickets: list[Ticket], now: bool = True) -> list[tuple[Ticket, Failed]]:
        """Read the tickets' records and send them to device ``i``'s actor: with
        its next collect call when none is waiting (the usual case: its last one
        just came back) or they can wait for it (not ``now``), else in a call of
        their own. Returns the tickets whose input could not be read (not sent)."""
        jobs, failed = [], []
        for ticket in tickets:
            try:
                jobs.append(Job(ticket.id, ticket.unit, fasta_text(read_unit(ticket.unit))))
            except UnitError as exc:
                failed.append((ticket, Failed(str(exc), "", permanent=True)))
            except (OSError, ValueError) as exc:
                failed.append((ticket, Failed(f"{type(exc).__name__}: {exc}", "", permanent=False)))
        if jobs and self.actors[i] is not None:
            if i in self.calls.collecting and now:
                self.calls.call(i, "submit", self.actors[i].submit, jobs)
            else:
                self.riding.setdefault(i, []).extend(jobs)
        return failed

    def cut(self, i: int, ticket: int, cut: Cut) -> None:
        self.calls.call(i, "cut", self.actors[i].cut, ticket, cut)

    def withdraw(self, i: int, tickets: list[int]) -> None:
        self.calls.call(i, "withdraw", self.actors[i].withdraw, tickets)

    def ensure_collecting(self) -> None:
        """Keep one collect call waiting on every live actor that has set up."""
        for i, actor in enumerate(self.actors):
            book = self.coord.books[i]
            if actor is not None and book.ready and not book.dead and i not in self.calls.collecting \
                    and i not in self.expected_exit:
                self.calls.call(i, "collect", actor.collect, self.riding.pop(i, []))

    def poll_reports(self) -> None:
        """Ask every live actor for its readings (at most one question pending each)."""
        for i, actor in enumerate(self.actors):
            book = self.coord.books[i]
            fresh = time.monotonic() - self.replies.reported_at[i] < TICK_S  # a collect brought them
            if actor is not None and book.ready and not book.dead and i not in self.calls.reporting \
                    and i not in self.expected_exit and not fresh:
                self.calls.call(i, "report", actor.report)

    def stop_actor(self, i: int) -> None:
        """Drained or given up on: ask it to release its models, then kill it."""
        self.expected_exit.add(i)
        actor = self.actors[i]
        if actor is not None:
            self.calls.call(i, "stop", actor.stop)

    def kill(self, i: int) -> None:
        import ray

        self.expected_exit.add(i)
        actor = self.actors[i]
        if actor is not None:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass

    def restart(self, i: int) -> None:
        """A stalled actor: kill it and start a fresh one (its unit was requeued)."""
        given_up = not self.coord.restart_stalled(i)
        self.kill(i)
        self.forget(i)
        if not given_up:
            self._spawn(i)

    def unplaced(self, now: float) -> list[int]:
        """Devices whose actor still has no process after PLACE_TIMEOUT_S."""
        return [i for i, p in enumerate(self.placements)
                if p is None and self.actors[i] is not None and i not in self.expected_exit
                and now - self.spawned_at[i] > PLACE_TIMEOUT_S]

    # -- ending ------------------------------------------------------------------
    def abort(self) -> None:
        """Kill every actor now. Safe more than once, from any thread."""
        for i in range(len(self.actors)):
            self.kill(i)

    def wind_down(self, grace: float, record: bool = True) -> None:
        """After the loop failed: wait up to ``grace`` s for units in flight, then stop."""
        import ray

        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            live = {ref: i for i, ref in self.calls.collecting.items() if self.lanes[i].running is not None}
            if not live:
                break
            done, _ = ray.wait(list(live), num_returns=1, timeout=min(TICK_S, deadline - time.monotonic()))
            for ref in done:
                i = live[ref]
                self.calls.take(ref)
                value = get(ref)
                if isinstance(value, Collected):
                    for kind, _, msg in self.replies.written(self.replies.unpack(i, value)):
                        self._settle_late(i, kind, msg, record)
            self.ensure_collecting()
        self.finish()

    def _settle_late(self, i: int, kind: str, msg: object, record: bool) -> None:
        """A reply that came while winding down: cuts and finished units count."""
        coord = self.coord
        with coord.lock:
            if kind == "cut" and isinstance(msg, CutAt):
                coord.cut_answered(i, msg.uid, msg.at)  # the actor stops there: the tail stays queued
                return
            if kind != "unit":
                return
            self.lanes.done(i)
            if not isinstance(msg, Done) or coord.books[i].in_flight is None:
                return
            flight = coord.unit_done(i, msg.sequences, msg.seconds)
        if record:
            self.sink.unit_done(i, flight, msg)

    def finish(self) -> None:
        """Every actor releases its models (STOP_WAIT_S at most), then is killed."""
        import ray

        if self._ended:
            return
        self._ended = True
        stops = [a.stop.remote() for i, a in enumerate(self.actors)
                 if a is not None and i not in self.expected_exit]
        if stops:
            ray.wait(stops, num_returns=len(stops), timeout=STOP_WAIT_S)
        self.abort()
        self.replies.close()

