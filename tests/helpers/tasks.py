"""Fault-injecting tasks for the integration tests.

Each behaves like the ``sim`` task (sleeps, writes the same JSON result)
except on the unit named by ``LBTUI_TEST_UNIT`` (a uid, e.g. ``f03.fa``).
Attempts are counted in files under ``LBTUI_TEST_STATE`` (a folder), shared
by every worker process, so a test can tell how often a unit was tried and
a fault can happen on the first attempt only. Environment variables reach
the spawned workers because they inherit the main process's environment.

Run them on ``cpu:N`` devices: simulated devices accept only the sim task.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from virnucpro_bridge.errors import UnitError
from virnucpro_bridge.inputs.units import Unit
from virnucpro_bridge.tasks.sim import SimTask

UNIT_ENV = "LBTUI_TEST_UNIT"
STATE_ENV = "LBTUI_TEST_STATE"
FAILS_ENV = "LBTUI_TEST_FAILS"  # FlakyTask: how many attempts fail before one succeeds


def record_attempt(unit: Unit) -> int:
    """Count this attempt at ``unit``; returns 1 for the first, 2 for the second ..."""
    state = Path(os.environ[STATE_ENV])
    state.mkdir(parents=True, exist_ok=True)
    stem = unit.uid.replace("/", "_").replace("#", "_")
    n = 1
    while True:
        try:  # O_EXCL: two workers can never claim the same attempt number
            os.close(os.open(state / f"{stem}.{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return n
        except FileExistsError:
            n += 1


def attempts(state: Path, uid: str) -> int:
    stem = uid.replace("/", "_").replace("#", "_")
    return len(list(state.glob(f"{stem}.*")))


def targeted(unit: Unit) -> bool:
    return unit.uid == os.environ.get(UNIT_ENV)


class FlakyTask(SimTask):
    """Raises on the first ``LBTUI_TEST_FAILS`` (default 1) attempts at the unit."""

    name = "flaky"

    def run_unit(self, unit, output, progress):
        if targeted(unit) and record_attempt(unit) <= int(os.environ.get(FAILS_ENV, "1")):
            raise RuntimeError(f"injected transient failure on {unit.uid}")
        return super().run_unit(unit, output, progress)


class BrokenUnitTask(SimTask):
    """Fails permanently on the unit with UnitError: no retries."""

    name = "broken-unit"

    def run_unit(self, unit, output, progress):
        if targeted(unit):
            record_attempt(unit)
            raise UnitError(f"{unit.uid}: not a usable input (injected)")
        return super().run_unit(unit, output, progress)


class CrashTask(SimTask):
    """The worker dies (SIGSEGV) on the first attempt at the unit."""

    name = "crash"

    def run_unit(self, unit, output, progress):
        if targeted(unit) and record_attempt(unit) == 1:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().run_unit(unit, output, progress)


class ExitTask(SimTask):
    """The worker calls os._exit(7) on the first attempt at the unit."""

    name = "exit"

    def run_unit(self, unit, output, progress):
        if targeted(unit) and record_attempt(unit) == 1:
            os._exit(7)
        return super().run_unit(unit, output, progress)


class HangTask(SimTask):
    """Hangs ``LBTUI_TEST_HANG_S`` seconds (default 3) without progress on the
    first attempt at the unit, then finishes it normally: a stall, not a death."""

    name = "hang"

    def run_unit(self, unit, output, progress):
        if targeted(unit) and record_attempt(unit) == 1:
            import time

            time.sleep(float(os.environ.get("LBTUI_TEST_HANG_S", "3")))
        return super().run_unit(unit, output, progress)


class SetupFailTask(SimTask):
    """Setup raises on the devices listed in ``LBTUI_TEST_DEVICES`` (e.g. "0" or "0,1"),
    like a model that does not fit on one GPU."""

    name = "setup-fail"

    def setup(self, device):
        if str(device.index) in os.environ.get("LBTUI_TEST_DEVICES", "").split(","):
            raise MemoryError("injected: model does not fit on this device")
        super().setup(device)


def bad_device(device) -> bool:
    return str(device.index) in os.environ.get("LBTUI_TEST_DEVICES", "").split(",")


class BadDeviceTask(SimTask):
    """Every unit fails on the devices listed in ``LBTUI_TEST_DEVICES``: with a
    CUDA error when ``LBTUI_TEST_CUDA_ERROR`` is set, else an ordinary one."""

    name = "bad-device"

    def setup(self, device):
        super().setup(device)
        self.bad = bad_device(device)

    def run_unit(self, unit, output, progress):
        if self.bad:
            record_attempt(unit)
            if os.environ.get("LBTUI_TEST_CUDA_ERROR"):
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            raise RuntimeError(f"injected: {unit.uid} cannot run here")
        return super().run_unit(unit, output, progress)


class RestartTask(SimTask):
    """For a restart on a (fake-NVML) GPU: the first attempt at the targeted unit
    holds half the device's memory (``<holds>/<uuid>`` of the fake NVML, until
    ``LBTUI_TEST_HOLD_S`` from now) and hangs: a stall. The device's second setup
    (the restarted worker's) fails once. Each setup writes the time it began to
    ``<state>/setup-<device>.<n>``."""

    name = "restart"

    def setup(self, device):
        import json
        import time

        state = Path(os.environ[STATE_ENV])
        state.mkdir(parents=True, exist_ok=True)
        n = 1 + len(list(state.glob(f"setup-{device.index}.*")))
        (state / f"setup-{device.index}.{n}").write_text(repr(time.time()))
        if n == 2:
            raise RuntimeError("injected: setup failed after the restart")
        super().setup(device)
        node = json.loads(Path(os.environ["LBTUI_FAKE_NVML"]).read_text())
        self.hold = Path(node["holds"]) / device.uuid if device.uuid else None

    def run_unit(self, unit, output, progress):
        if targeted(unit) and record_attempt(unit) == 1:
            import time

            until = time.time() + float(os.environ.get("LBTUI_TEST_HOLD_S", "1.5"))
            self.hold.write_text(repr(until))
            time.sleep(60)  # killed by the stall restart long before
        return super().run_unit(unit, output, progress)


class MergeFailTask(SimTask):
    """Runs every unit, but merging the results of the targeted file fails."""

    name = "merge-fail"

    def finalize_file(self, rel, units, out_dir):
        if rel == os.environ.get(UNIT_ENV):
            raise OSError(f"injected merge failure for {rel}")
        return []


class CudaFaultTask(SimTask):
    """For scripts/gpu_check.sh on a real GPU: each worker holds 1 GiB of device
    memory, and the first attempt at the targeted unit triggers a real
    device-side assert (an out-of-bounds index), which leaves the CUDA context
    unusable: the worker must be restarted, after its memory is released."""

    name = "cuda-fault"
    needs_cuda_torch = True

    def setup(self, device):
        super().setup(device)
        import torch

        self.torch, self.where = torch, device.torch_device
        self.ballast = torch.empty(2**28, device=self.where)  # 1 GiB: what a restart must wait for

    def run_unit(self, unit, output, progress):
        if targeted(unit) and record_attempt(unit) == 1:
            t = self.torch.zeros(4, device=self.where)
            t[self.torch.tensor([10], device=self.where)] = 1.0  # out of bounds: a device-side assert
            self.torch.cuda.synchronize()
        return super().run_unit(unit, output, progress)


class BindingTask(SimTask):
    """Records what a worker was bound to, as ``<state>/bound-<device>.json``: at setup
    its environment (CUDA_VISIBLE_DEVICES, the allocator, thread counts) and the device
    it was given; after its first unit also torch's thread count (set after setup).
    Imports ``torch`` in setup: run it with the fake CUDA torch
    (tests/helpers/fake_cuda_torch) first on PYTHONPATH, or on a GPU."""

    name = "binding"

    def setup(self, device):
        import torch

        super().setup(device)
        self.torch = torch
        env = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "PYTORCH_CUDA_ALLOC_CONF",
                                              "OMP_NUM_THREADS", "CUDA_DEVICE_ORDER")}
        self.record = {"env": env, "ordinal": device.ordinal, "torch_device": device.torch_device,
                       "uuid": device.uuid, "threads": device.threads}
        self._write()

    def _write(self):
        import json

        state = Path(os.environ[STATE_ENV])
        state.mkdir(parents=True, exist_ok=True)
        (state / f"bound-{self.device.index}.json").write_text(json.dumps(self.record))

    def run_unit(self, unit, output, progress):
        if "torch_threads" not in self.record:
            self.record["torch_threads"] = self.torch.get_num_threads()
            self._write()
        return super().run_unit(unit, output, progress)
