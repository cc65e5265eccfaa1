"""The Ray backend: one actor per device, anywhere on a Ray cluster.

The same contract as ``pool.LocalPool`` (start, run, finish, abort,
wind_down, pids), over the same Coordinator and Sink. The dispatcher loop
waits on the actors' pending calls instead of pipes::

    ray.wait(setup | run_unit | report | stop refs) ──▶ results (outside the lock)
        run_unit reply ─▶ write the result atomically ─▶ Coordinator.unit_done ─▶ Sink
        RayActorError  ─▶ Coordinator.device_died ─▶ its unit requeued elsewhere
        report reply   ─▶ coord.status[i] (clock-corrected) ─▶ snapshots, stalls
    idle device ─▶ next_unit ─▶ read its records here ─▶ ray.put ─▶ actor.run_unit

The driver reads inputs and writes outputs, so the nodes share no file
system. Stealing, pause and drain are the Coordinator's and work unchanged;
in-flight cuts of a running unit do not (a unit runs whole on its actor).
"""

from __future__ import annotations

import select
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

from ...coordinator.coordinator import Coordinator
from ...coordinator.device_book import InFlight
from ...coordinator.housekeeping import TICK_S
from ...coordinator.messages import Done, Failed, Wakeup
from ...errors import UnitError, environment_error
from ...hardware.devices import DeviceSpec
from ...inputs.units import Unit, read_unit
from ...runfiles.atomic import atomic_open
from ..local.pool import STALL_ACTIONS, Sink
from .actor import DeviceActor, Placement, UnitReply, fasta_text
from .loop import ActorGone, LoopStep, actor_error_line

WAIT_S = 0.1  # longest the loop sleeps in ray.wait: bounds how late a command is acted on
PLACE_TIMEOUT_S = 120.0  # an actor not even started by then cannot be placed: the device is dead
START_WAIT_S = 60.0  # start() waits this long for placements (pids and nodes for run.json)
STOP_WAIT_S = 5.0  # finish(): actors get this long to release their models, then are killed


class RayPool:
    def __init__(self, coord: Coordinator, devices: Sequence[DeviceSpec], task_name: str,
                 task_options: dict, outputs: Callable[[Unit], str], sink: Sink, status: dict,
                 wakeup: Wakeup, *, out_dir: str, steal_interval: float = 2.0, grace: float = 30.0,
                 refresh: float = 2.0, stall_action: str = "restart", weighted: bool = True,
                 pinned: dict[int, str] | None = None, node_names: dict[str, str] | None = None) -> None:
        """``pinned``: device index -> node id for GPU actors (``--gpus all``);
        the other devices go round-robin over ``node_names`` (node id -> short name)."""
        if stall_action not in STALL_ACTIONS:
            raise ValueError(f"stall_action must be one of {STALL_ACTIONS}")
        self.coord, self.devices = coord, list(devices)
        self.task_name, self.task_options = task_name, task_options
        self.outputs, self.sink, self.status, self.wakeup = outputs, sink, status, wakeup
        self.out_dir = out_dir
        self.steal_interval, self.grace, self.refresh = steal_interval, grace, refresh
        self.stall_action, self.weighted = stall_action, weighted
        self.pinned, self.node_names = dict(pinned or {}), dict(node_names or {})
        n = len(self.devices)
        self.actors: list[Any] = [None] * n
        self.placements: list[Placement | None] = [None] * n
        self.generation = [0] * n  # replies from a replaced actor are ignored
        self.spawned_at = [0.0] * n
        self.expected_exit: set[int] = set()
        self.refs: dict[Any, tuple[str, int, int]] = {}  # pending call -> (kind, device, generation)
        self.busy: dict[int, Any] = {}  # device -> its run_unit ref
        self.reporting: set[int] = set()
        self.sink_calls: list[tuple[Callable, tuple]] = []
        self._ended = False

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> list[int | None]:
        """Create every actor; wait (up to START_WAIT_S) until each has a process."""
        import ray

        for i in range(len(self.devices)):
            self._spawn(i)
        waiting = [r for r, (kind, _, _) in self.refs.items() if kind == "where"]
        deadline = time.monotonic() + START_WAIT_S
        while waiting and time.monotonic() < deadline:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=WAIT_S)
            for ref in done:
                self._take_placement(ref)
        return self.pids

    def _spawn(self, i: int) -> None:
        import ray

        spec = self.devices[i]
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options: dict[str, Any] = dict(max_concurrency=2, max_restarts=0, num_cpus=0)
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
        actor = ray.remote(DeviceActor).options(**options).remote(spec, self.task_name, self.task_options)
        self.generation[i] += 1
        self.actors[i], self.placements[i] = actor, None
        self.spawned_at[i] = time.monotonic()
        self.expected_exit.discard(i)
        self._call(i, "where", actor.where)
        self._call(i, "setup", actor.setup)

    def _call(self, i: int, kind: str, method: Any, *args: Any) -> Any:
        ref = method.remote(*args)
        self.refs[ref] = (kind, i, self.generation[i])
        return ref

    def _take_placement(self, ref: Any) -> None:
        import ray

        kind, i, gen = self.refs.pop(ref)
        try:
            placement = ray.get(ref)
        except Exception:  # noqa: BLE001 - the actor died starting: its setup call says so
            return
        if gen == self.generation[i]:
            self.placements[i] = placement
            self.coord.books[i].pid = placement.pid

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
            replies = self._wait()
            going, sample = step.run(replies)
            self._flush_sink()
            self.sink.tick(sample)
            if not going:
                return

    def _wait(self) -> list[tuple[str, int, object]]:
        """Every reply ready within WAIT_S (or a wake-up), fetched outside the lock."""
        import ray

        refs = list(self.refs)
        if refs:
            done, rest = ray.wait(refs, num_returns=1, timeout=WAIT_S)
            if done and rest:
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                done += more
        else:
            done = []
            select.select([self.wakeup], [], [], WAIT_S)
        self.wakeup.clear()
        replies = []
        for ref in done:
            kind, i, gen = self.refs.pop(ref)
            if kind == "run_unit" and self.busy.get(i) is ref:
                del self.busy[i]
            elif kind == "report":
                self.reporting.discard(i)
            if gen != self.generation[i]:
                continue  # from an actor that was replaced (restarted after a stall)
            replies.append((kind, i, self._fetch(kind, i, ref)))
        return replies

    def _fetch(self, kind: str, i: int, ref: Any) -> object:
        """The call's value; a dead actor's error as ``ActorGone``; a result written."""
        import ray
        from ray.exceptions import RayActorError

        try:
            value = ray.get(ref)
        except RayActorError as exc:
            return ActorGone(actor_error_line(exc))
        except Exception as exc:  # noqa: BLE001 - the call itself failed (e.g. unpicklable reply)
            value = exc
        if kind == "run_unit":
            return self._write_result(i, value)
        if kind == "where" and isinstance(value, Placement):
            self.placements[i] = value
        return value

    def _write_result(self, i: int, value: object) -> Done | Failed:
        """Write a unit's returned bytes where a local worker would have written them."""
        if not isinstance(value, UnitReply):
            return Failed(f"{type(value).__name__}: {value}", str(value), permanent=False)
        reply, skew = value.reply, time.time() - value.clock
        if isinstance(reply, Failed) or value.result is None:
            return reply if isinstance(reply, Failed) else Failed("no result returned", "", permanent=False)
        flight = self.coord.books[i].in_flight
        path = (flight.output or self.outputs(flight.unit)) if flight is not None else None
        if path is None:
            return Failed("a result for a unit it was not given", "", permanent=True)
        try:
            with atomic_open(path, "wb") as fh:
                fh.write(value.result)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = path
            return Failed(f"{type(exc).__name__}: {exc}", "", permanent=False,
                          environment=environment_error(exc, self.out_dir))
        node = self.placements[i].node_id if self.placements[i] is not None else ""
        return replace(reply, started=reply.started + skew, ended=reply.ended + skew, node=node)

    def _flush_sink(self) -> None:
        while self.sink_calls:
            call, args = self.sink_calls.pop(0)
            call(*args)

    # -- called by the loop (under coord.lock unless said) ---------------------------
    def send(self, i: int, flight: InFlight) -> Failed | None:
        """Outside the lock: read the unit's records and hand them to the actor.
        Returns a Failed when the input cannot be read."""
        import ray

        unit = flight.unit
        try:
            text = fasta_text(read_unit(unit))
        except UnitError as exc:
            return Failed(str(exc), "", permanent=True)
        except (OSError, ValueError) as exc:
            return Failed(f"{type(exc).__name__}: {exc}", "", permanent=False)
        ref = self._call(i, "run_unit", self.actors[i].run_unit, unit, ray.put(text), flight.attempt)
        self.busy[i] = ref
        return None

    def poll_reports(self) -> None:
        """Ask every live actor for its readings (at most one question pending each)."""
        for i, actor in enumerate(self.actors):
            book = self.coord.books[i]
            if actor is not None and book.ready and not book.dead and i not in self.reporting \
                    and i not in self.expected_exit:
                self._call(i, "report", actor.report)
                self.reporting.add(i)

    def stop_actor(self, i: int) -> None:
        """Drained or given up on: ask it to release its models, then kill it."""
        self.expected_exit.add(i)
        actor = self.actors[i]
        if actor is not None:
            self._call(i, "stop", actor.stop)

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
        while self.busy and time.monotonic() < deadline:
            live = {ref: i for i, ref in self.busy.items()}
            done, _ = ray.wait(list(live), num_returns=1, timeout=min(TICK_S, deadline - time.monotonic()))
            for ref in done:
                i = live[ref]
                self.busy.pop(i, None)
                self.refs.pop(ref, None)
                reply = self._fetch("run_unit", i, ref)
                if isinstance(reply, Done):
                    with self.coord.lock:
                        flight = self.coord.unit_done(i, reply.sequences, reply.seconds)
                    if record:
                        self.sink.unit_done(i, flight, reply)
        self.finish()

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

