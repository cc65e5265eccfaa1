from __future__ import annotations

import builtins
import os
import sys
import types
from typing import Any

import pytest

from virnucpro_bridge.hardware import nvml
from virnucpro_bridge.hardware.nvml import NO_READING, NvmlSampler, Reading


class FakeError(Exception):
    pass


def fake_pynvml(names: list[str], fail: set[str] = frozenset(), init_fails: bool = False) -> types.ModuleType:
    """A stand-in for pynvml: device i has its name, and fixed counters."""
    m = types.ModuleType("pynvml")
    m.NVML_TEMPERATURE_GPU = 0
    m.calls = {"init": 0, "shutdown": 0}

    def maybe_fail(fn: str) -> None:
        if fn in fail:
            raise FakeError(fn)

    def init() -> None:
        if init_fails:
            raise FakeError("no driver")
        m.calls["init"] += 1

    def shutdown() -> None:
        m.calls["shutdown"] += 1

    def handle(i: int) -> int:
        maybe_fail("handle")
        if not 0 <= i < len(names):
            raise FakeError("bad index")
        return i

    m.nvmlInit = init
    m.nvmlShutdown = shutdown
    m.nvmlDeviceGetCount = lambda: len(names)
    m.nvmlDeviceGetHandleByIndex = handle
    m.nvmlDeviceGetName = lambda h: names[h].encode()  # old pynvml returns bytes
    m.nvmlDeviceGetUUID = lambda h: f"GPU-{h}{h}{h}-uuid"

    def util(h: int) -> Any:
        maybe_fail("util")
        return types.SimpleNamespace(gpu=37 + h, memory=5)

    def mem(h: int) -> Any:
        maybe_fail("mem")
        return types.SimpleNamespace(used=4 * 2**30, total=16 * 2**30, free=12 * 2**30)

    def temp(h: int, sensor: int) -> int:
        maybe_fail("temp")
        assert sensor == 0
        return 61

    def power(h: int) -> int:
        maybe_fail("power")
        return 215_500  # milliwatts

    m.nvmlDeviceGetUtilizationRates = util
    m.nvmlDeviceGetMemoryInfo = mem
    m.nvmlDeviceGetTemperature = temp
    m.nvmlDeviceGetPowerUsage = power
    return m


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml, "_torch_devices", lambda: [])


def install(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType | None) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    if module is None:
        real_import = builtins.__import__

        def blocked(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "pynvml":
                raise ImportError("no pynvml")
            return real_import(name, *args, **kwargs)

        monkeypatch.delitem(sys.modules, "pynvml", raising=False)
        monkeypatch.setattr(builtins, "__import__", blocked)
    else:
        monkeypatch.setitem(sys.modules, "pynvml", module)


def test_missing_pynvml_degrades(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None)
    assert nvml.cuda_devices() == []
    s = NvmlSampler(0)
    assert s.read() == NO_READING
    s.close()


def test_init_failure_degrades(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_pynvml(["NVIDIA L4"], init_fails=True))
    assert nvml.cuda_devices() == []
    assert NvmlSampler(0).read() == Reading(None, None, None, None)


def test_cuda_devices_lists_names_and_shuts_down(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_pynvml(["NVIDIA A100-SXM4-80GB", "NVIDIA L4"])
    install(monkeypatch, fake)
    assert nvml.cuda_devices() == [(0, "NVIDIA A100-SXM4-80GB"), (1, "NVIDIA L4")]
    assert fake.calls == {"init": 1, "shutdown": 1}


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("2,0", [(0, "C"), (1, "A")]),
        ("", []),
        ("1,7,2", [(0, "B")]),  # CUDA stops at the first index that names no device
        ("GPU-222,GPU-0", [(0, "C"), (1, "A")]),  # UUID prefixes resolve through NVML
    ],
)
def test_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch, no_torch: None, visible: str, expected: list) -> None:
    install(monkeypatch, fake_pynvml(["A", "B", "C"]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert nvml.cuda_devices() == expected


def test_mig_uuids_fall_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_pynvml(["A"]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-abcdef")
    monkeypatch.setattr(nvml, "_torch_devices", lambda: [(0, "from torch")])
    assert nvml.cuda_devices() == [(0, "from torch")]


def test_failing_call_degrades(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_pynvml(["A"], fail={"handle"}))
    assert nvml.cuda_devices() == []
    assert NvmlSampler(0).read() == NO_READING


def test_sampler_reads_and_converts_units(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_pynvml(["A", "B", "C"])
    install(monkeypatch, fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    s = NvmlSampler(0)
    assert s.read() == Reading(utilization=39.0, memory=25.0, temperature=61.0, power=215.5)
    s.close()
    s.close()
    assert s.read() == NO_READING
    assert fake.calls["init"] == fake.calls["shutdown"] == 1


def test_sampler_partial_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_pynvml(["A"], fail={"power", "temp"}))
    assert NvmlSampler(0).read() == Reading(37.0, 25.0, None, None)


def test_sampler_out_of_range_index(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_pynvml(["A"])
    install(monkeypatch, fake)
    assert NvmlSampler(3).read() == NO_READING
    assert fake.calls["shutdown"] == 1


def test_pin_device_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    nvml.pin_device_order()
    assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    nvml.pin_device_order()
    assert os.environ["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"
