"""NVML readings, CUDA_VISIBLE_DEVICES resolution (Slurm, UUIDs, MIG) and the
memory wait, against the fake NVML node in tests/helpers/fake_nvml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.nvml_node import GIB, gpu, install, mig
from virnucpro_bridge.hardware import discovery, memory_wait, nvml
from virnucpro_bridge.hardware.discovery import SOURCE_NVML, SOURCE_TORCH, CudaDevice
from virnucpro_bridge.hardware.memory_wait import MemoryWait
from virnucpro_bridge.hardware.nvml import NO_READING, NvmlSampler, Reading

ABC = {"gpus": [gpu("A", "GPU-000-a"), gpu("B", "GPU-111-b"), gpu("C", "GPU-222-c")]}


@pytest.fixture(autouse=True)
def driver_present(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a GPU machine whose NVML may be missing: torch is worth asking."""
    monkeypatch.setattr(discovery, "nvidia_driver_present", lambda: True)


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "torch_devices", list)


def torch_says(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    devices = [CudaDevice(i, n, 40 * GIB, None) for i, n in enumerate(names)]
    monkeypatch.setattr(discovery, "torch_devices", lambda: devices)


def names(found: discovery.Discovery) -> list[tuple[int, str]]:
    return [(d.index, d.name) for d in found.devices]


def test_missing_pynvml_falls_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None)
    torch_says(monkeypatch, "NVIDIA L4")
    found = discovery.discover()
    assert (names(found), found.source) == ([(0, "NVIDIA L4")], SOURCE_TORCH)
    assert found.devices[0].memory_total == 40 * GIB
    assert "NVML is not available" in found.warnings[0]
    assert NvmlSampler(0).read() == NO_READING


def test_no_nvml_and_no_driver_does_not_import_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None)
    monkeypatch.setattr(discovery, "nvidia_driver_present", lambda: False)
    monkeypatch.setattr(discovery, "torch_devices", lambda: pytest.fail("torch asked on a machine without a driver"))
    assert discovery.discover() == discovery.Discovery((), "")


def test_missing_pynvml_and_torch_finds_nothing(monkeypatch: pytest.MonkeyPatch, no_torch: None) -> None:
    install(monkeypatch, None)
    found = discovery.discover()
    assert (found.devices, found.source, found.warnings) == ((), "", ())  # a CPU machine: no noise
    assert discovery.cuda_devices() == []


def test_init_failure_degrades(monkeypatch: pytest.MonkeyPatch, no_torch: None) -> None:
    install(monkeypatch, {"gpus": []})
    monkeypatch.setattr(nvml, "init", lambda: None)
    assert discovery.cuda_devices() == []
    assert NvmlSampler(0).read() == Reading(None, None, None, None)


def test_nvml_lists_names_memory_and_uuids_and_shuts_down(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install(monkeypatch, {"gpus": [gpu("NVIDIA A100-SXM4-80GB", "GPU-a"),
                                          gpu("NVIDIA L4", "GPU-b", total=24 * GIB)]})
    monkeypatch.setattr(discovery, "torch_devices", lambda: pytest.fail("torch asked while NVML was sure"))
    found = discovery.discover()
    assert names(found) == [(0, "NVIDIA A100-SXM4-80GB"), (1, "NVIDIA L4")]
    assert found.source == SOURCE_NVML and not found.notes and not found.warnings
    assert [(d.memory_total, d.uuid) for d in found.devices] == [(80 * GIB, "GPU-a"), (24 * GIB, "GPU-b")]
    assert fake.calls == {"init": 1, "shutdown": 1}


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("2,0", [(0, "C"), (1, "A")]),
        ("", []),
        ("1,7,2", [(0, "B")]),  # CUDA stops at the first index that names no device
        ("0,0,1", [(0, "A")]),  # ... and at a device named twice
        ("GPU-222,GPU-0", [(0, "C"), (1, "A")]),  # UUID prefixes resolve through NVML
        ("GPU-2,GPU-", [(0, "C")]),  # an ambiguous prefix names nothing
        ("nonsense,0", []),
    ],
)
def test_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch, no_torch: None, visible: str,
                              expected: list) -> None:
    install(monkeypatch, ABC)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert discovery.cuda_devices() == expected


SLURM_NODE = {"gpus": [gpu("NVIDIA A100 0", "GPU-n0", refused=True), gpu("NVIDIA A100 1", "GPU-n1"),
                       gpu("NVIDIA A100 2", "GPU-n2"), gpu("NVIDIA A100 3", "GPU-n3", refused=True)]}


def test_slurm_job_gpus_are_counted_among_those_nvml_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    # Slurm gave the job the node's GPUs 1 and 2 and renumbered them 0,1; the
    # cgroup lets NVML open only those. CUDA's 0 is NVML's 1, not NVML's 0.
    install(monkeypatch, SLURM_NODE)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    torch_says(monkeypatch, "NVIDIA A100 1", "NVIDIA A100 2")  # CUDA agrees: 2 devices
    found = discovery.discover()
    assert names(found) == [(0, "NVIDIA A100 1"), (1, "NVIDIA A100 2")]
    assert found.source == SOURCE_NVML and not found.warnings
    assert "NVML may not open GPU 0,3 of the node's 4" in found.notes[0]
    assert [d.uuid for d in found.devices] == ["GPU-n1", "GPU-n2"]
    sampler = NvmlSampler(1)  # a worker on cuda:1 reads NVML's GPU 2
    assert sampler.read().utilization == 39.0
    sampler.close()


def test_slurm_job_without_torch_keeps_nvml(monkeypatch: pytest.MonkeyPatch, no_torch: None) -> None:
    install(monkeypatch, SLURM_NODE)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert discovery.cuda_devices() == [(0, "NVIDIA A100 1"), (1, "NVIDIA A100 2")]


def test_torch_wins_when_it_disagrees_with_a_guessing_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, SLURM_NODE)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    torch_says(monkeypatch, "NVIDIA A100 (torch)")
    found = discovery.discover()
    assert (names(found), found.source) == ([(0, "NVIDIA A100 (torch)")], SOURCE_TORCH)
    assert "NVML finds 2 CUDA device(s) here and torch 1" in found.warnings[0]


MIG_NODE = {"gpus": [gpu("NVIDIA A100-SXM4-40GB", "GPU-aaaa", mig=[
    mig("NVIDIA A100-SXM4-40GB MIG 1g.5gb", "MIG-1111", gi=7),
    mig("NVIDIA A100-SXM4-40GB MIG 3g.20gb", "MIG-2222", gi=1)]), gpu("NVIDIA L4", "GPU-bbbb")]}


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("MIG-2222", [(0, "NVIDIA A100-SXM4-40GB MIG 3g.20gb")]),
        ("MIG-GPU-aaaa/7/0,GPU-bbbb", [(0, "NVIDIA A100-SXM4-40GB MIG 1g.5gb"), (1, "NVIDIA L4")]),
        ("MIG-9999", []),
    ],
)
def test_mig_uuids_resolve_through_nvml(monkeypatch: pytest.MonkeyPatch, no_torch: None, visible: str,
                                        expected: list) -> None:
    install(monkeypatch, MIG_NODE)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert discovery.cuda_devices() == expected


def test_a_mig_gpu_by_index_asks_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, MIG_NODE)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    torch_says(monkeypatch, "from torch")
    found = discovery.discover()
    assert (names(found), found.source) == ([(0, "from torch")], SOURCE_TORCH)
    assert "MIG mode" in found.warnings[0]


def test_mig_sampler_by_uuid_reads_memory_not_utilization(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, MIG_NODE)
    sampler = NvmlSampler(0, "MIG-2222")  # found by search: the fake, like old drivers, opens GPU UUIDs only
    assert sampler.read() == Reading(utilization=None, memory=0.0, temperature=61.0, power=215.5)
    sampler.close()


def test_failing_nvml_degrades(monkeypatch: pytest.MonkeyPatch, no_torch: None) -> None:
    fake = install(monkeypatch, ABC)
    monkeypatch.setattr(fake, "nvmlDeviceGetName", lambda h: (_ for _ in ()).throw(fake.NVMLError("GPU lost")))
    found = discovery.discover()
    assert found.devices == () and found.source == ""


def test_sampler_reads_and_converts_units(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install(monkeypatch, ABC)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    s = NvmlSampler(0)
    assert s.read() == Reading(utilization=39.0, memory=1.25, temperature=61.0, power=215.5)
    s.close()
    s.close()
    assert s.read() == NO_READING
    assert fake.calls["init"] == fake.calls["shutdown"] == 1


def test_sampler_partial_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install(monkeypatch, ABC)
    for fn in ("nvmlDeviceGetPowerUsage", "nvmlDeviceGetTemperature"):
        monkeypatch.setattr(fake, fn, lambda *a: (_ for _ in ()).throw(fake.NVMLError("Not Supported")))
    assert NvmlSampler(0).read() == Reading(37.0, 1.25, None, None)


def test_sampler_out_of_range_index(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install(monkeypatch, ABC)
    assert NvmlSampler(3).read() == NO_READING
    assert fake.calls["shutdown"] == 1


def test_pin_device_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    nvml.pin_device_order()
    assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    nvml.pin_device_order()
    assert os.environ["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"


# -- waiting for a killed worker's memory ---------------------------------------------

class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt
        self.sleeps += 1


def test_memory_wait_limit_is_the_baseline_plus_slack() -> None:
    assert memory_wait.memory_wait_for(None) is None
    assert memory_wait.memory_wait_for((GIB, 80 * GIB)).limit_bytes == GIB + int(0.02 * 80 * GIB)  # 2 % > 512 MiB
    assert memory_wait.memory_wait_for((GIB, 16 * GIB)).limit_bytes == GIB + 512 * 2**20


def test_wait_returns_once_the_memory_is_released(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    node = {"gpus": [gpu("A", "GPU-a", used=GIB)], "holds": str(tmp_path)}
    install(monkeypatch, node)
    hold = tmp_path / "GPU-a"
    hold.write_text("1e12")  # held "forever", until the third poll releases it
    fake = FakeTime()

    def sleep(dt: float) -> None:
        fake.sleep(dt)
        if fake.sleeps == 3:
            hold.write_text("0")

    wait = memory_wait.memory_wait_for((GIB, 80 * GIB))
    assert memory_wait.wait_for_memory(0, "GPU-a", wait, clock=fake.clock, sleep=sleep) is True
    assert fake.sleeps == 3


def test_wait_is_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, {"gpus": [gpu("A", "GPU-a")], "holds": str(tmp_path)})
    (tmp_path / "GPU-a").write_text("1e12")
    fake = FakeTime()
    wait = MemoryWait(2 * GIB, timeout_s=5.0)
    assert memory_wait.wait_for_memory(0, None, wait, clock=fake.clock, sleep=fake.sleep) is False
    assert fake.t == pytest.approx(5.0, abs=memory_wait.MEMORY_POLL_S)


def test_wait_without_nvml_says_it_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None)
    fake = FakeTime()
    assert memory_wait.wait_for_memory(0, None, MemoryWait(GIB), clock=fake.clock, sleep=fake.sleep) is None
    assert fake.sleeps == 0
