"""The backend contract (``virnucpro_bridge/backends/base.py``), checked by behaviour.

``BackendContract`` drives a backend the way the runner does, through the
contract's calls only (start, run, finish, abort, wind_down, pids, nodes), over a
real Coordinator and a recording Sink, on a tiny sim run. Each backend's test
module subclasses it and says how its backend is made (``make_backend``):
``test_backend_contract.py`` here for the local one, ``ray/test_backend_contract.py``
for Ray. Everything is ``slow``: workers are processes or actors.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.helpers.wait import wait_for
from tests.integration.conftest import make_inputs
from virnucpro_bridge.backends.base import Backend
from virnucpro_bridge.coordinator.coordinator import Coordinator
from virnucpro_bridge.coordinator.device_book import InFlight
from virnucpro_bridge.coordinator.messages import Done, Failed, SetupFailed, Wakeup
from virnucpro_bridge.hardware.devices import DeviceSpec, parse_gpus
from virnucpro_bridge.inputs.plan import plan_units
from virnucpro_bridge.inputs.units import Unit, discover
from virnucpro_bridge.options import RunOptions
from virnucpro_bridge.tasks.sim import SimTask

SEQS = 12  # per file, 250 residues each: 3,000 residues a unit


class RecordingSink:
    """The runner's part of the contract, remembered: what reached it, in order."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.done: list[tuple[int, InFlight, Done]] = []
        self.failed: list[tuple[int, InFlight, Failed]] = []
        self.setup: list[tuple[int, SetupFailed]] = []
        self.ticks = 0
        self.fail_after = fail_after  # raise on this many units done (a failing manifest)
        self.lock = threading.Lock()

    def unit_done(self, index: int, flight: InFlight, done: Done) -> None:
        with self.lock:
            self.done.append((index, flight, done))
            if self.fail_after is not None and len(self.done) == self.fail_after:
                raise RuntimeError("the sink failed")

    def unit_failed(self, index: int, flight: InFlight, failed: Failed) -> None:
        self.failed.append((index, flight, failed))

    def setup_failed(self, index: int, failed: SetupFailed) -> None:
        self.setup.append((index, failed))

    def tick(self, sample: bool) -> None:
        self.ticks += 1

    def uids(self) -> list[str]:
        return sorted(flight.unit.uid for _, flight, _ in self.done)


@dataclass
class Setup:
    """What the runner would hold: the coordinator, the backend and where results go."""

    coord: Coordinator
    backend: Backend
    sink: RecordingSink
    units: list[Unit]
    out: Path
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def output(self, unit: Unit) -> str:
        return os.path.join(self.out, SimTask({}).output_path(unit))




class BackendContract:
    """The tests; a subclass provides the ``make_backend`` and ``status`` fixtures."""

    @pytest.fixture
    def run(self, tmp_path: Path, make_backend, status) -> Iterator[Callable[..., Setup]]:
        made: list[Setup] = []

        def build(n_files: int = 6, gpus: str = "sim:1,1", sim_rate: float = 15_000.0,
                  sink: RecordingSink | None = None) -> Setup:
            inputs = make_inputs(tmp_path / "in", n_files, seqs=SEQS)
            plan = plan_units(discover([str(inputs)]))  # one unit per file
            devices: list[DeviceSpec] = parse_gpus(gpus)
            options = RunOptions(argv=(), split=False, task_options={"sim_rate": sim_rate})
            out = tmp_path / "out"
            out.mkdir(exist_ok=True)
            wakeup = Wakeup()
            coord = Coordinator(devices, plan.units, options, status=status, task="sim", out_dir=str(out),
                                wake=wakeup.wake, nominal_rate=sim_rate)
            coord.assign_initial()
            sink = sink or RecordingSink()
            setup = Setup(coord, None, sink, list(plan.units), out)  # type: ignore[arg-type]
            setup.backend = make_backend(coord, devices, options, task_name="sim", outputs=setup.output,
                                         sink=sink, status=status, wakeup=wakeup, out_dir=str(out))
            setup.cleanup.append(wakeup.close)
            made.append(setup)
            return setup

        yield build
        for setup in made:
            setup.backend.abort()
            setup.backend.finish()
            for step in setup.cleanup:
                step()

    def test_a_run_does_every_unit_once_and_finish_stops_the_workers(self, run) -> None:
        setup = run()
        backend = setup.backend
        pids = backend.start()
        assert len(pids) == 2 and backend.pids == pids
        assert all(p is None or p > 0 for p in pids)
        backend.run()  # on this thread: returns once the work is done
        assert setup.sink.uids() == sorted(u.uid for u in setup.units)  # each once, to the sink
        assert all(os.path.getsize(setup.output(u)) > 0 for u in setup.units)
        assert setup.sink.ticks > 0 and not setup.sink.failed and not setup.sink.setup
        assert not setup.coord.work_left() and setup.coord.settle() == 0
        nodes = backend.nodes
        assert len(nodes) == 2 and all(isinstance(n, str) for n in nodes)
        backend.finish()
        backend.finish()  # twice is safe
        live = [p for p in pids if p]
        wait_for(lambda: not any(psutil.pid_exists(p) for p in live), timeout=20, what="the workers gone")

    def test_abort_from_another_thread_ends_the_run(self, run) -> None:
        setup = run(sim_rate=50.0)  # a unit takes a minute: nothing finishes on its own
        backend, coord = setup.backend, setup.coord
        backend.start()
        loop = threading.Thread(target=backend.run, daemon=True)
        loop.start()
        wait_for(lambda: coord.queues.in_flight == 2, what="both devices running a unit")
        coord.stop(now=True)  # what a second Ctrl+C does: the loop aborts and returns
        backend.abort()  # ... and the signal handler kills the workers itself
        loop.join(30)
        assert not loop.is_alive()
        backend.finish()
        assert setup.sink.done == [] and coord.settle() == 130
        live = [p for p in backend.pids if p]
        wait_for(lambda: not any(psutil.pid_exists(p) for p in live), timeout=20, what="the workers gone")

    def test_wind_down_after_a_failure_keeps_the_units_in_flight(self, run) -> None:
        setup = run(n_files=8, sim_rate=6_000.0, sink=RecordingSink(fail_after=1))  # 0.5 s a unit
        backend, coord = setup.backend, setup.coord
        backend.start()
        with pytest.raises(RuntimeError, match="the sink failed"):
            backend.run()
        setup.sink.fail_after = None
        coord.abort("internal error: the sink failed")  # what the runner does before wind_down
        in_flight = {b.in_flight.unit.uid for b in coord.books if b.in_flight is not None}
        backend.wind_down(20.0, record=True)
        recorded = setup.sink.uids()
        assert in_flight and in_flight <= set(recorded)  # what was running finished and reached the sink
        assert len(recorded) == len(set(recorded)) < len(setup.units)  # nothing new was started
        assert coord.settle() == 3
        live = [p for p in backend.pids if p]
        wait_for(lambda: not any(psutil.pid_exists(p) for p in live), timeout=20, what="the workers gone")
