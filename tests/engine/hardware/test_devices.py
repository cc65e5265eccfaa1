from __future__ import annotations

import os

import pytest

from virnucpro_bridge.errors import UsageError
from virnucpro_bridge.hardware import devices
from virnucpro_bridge.hardware.devices import (
    capability_weight,
    parse_gpus,
    select_gpus,
    unknown_weight_warnings,
)
from virnucpro_bridge.hardware.discovery import CudaDevice, Discovery

FOUR = [(0, "NVIDIA GeForce RTX 4090"), (1, "NVIDIA A100-SXM4-80GB"), (2, "Tesla T4"), (3, "Mystery GPU 9000")]


@pytest.mark.parametrize(
    ("name", "weight"),
    [
        ("NVIDIA GeForce RTX 3080", 0.90),
        ("NVIDIA GeForce RTX 3090", 1.00),
        ("NVIDIA GeForce RTX 4080", 1.35),
        ("NVIDIA GeForce RTX 4080 SUPER", 1.40),
        ("NVIDIA GeForce RTX 4090", 1.50),
        ("NVIDIA RTX A6000", 1.10),
        ("NVIDIA A100-SXM4-80GB", 1.20),
        ("NVIDIA A100 80GB PCIe", 1.20),
        ("NVIDIA H100 80GB HBM3", 2.50),
        ("Tesla V100-SXM2-32GB", 0.78),
        ("NVIDIA A10", 0.72),
        ("NVIDIA A10G", 0.70),
        ("NVIDIA L40", 1.30),
        ("NVIDIA L40S", 1.45),
        ("NVIDIA L4", 0.55),
        ("NVIDIA H200", 2.90),
        ("NVIDIA GH200 480GB", 3.00),
        ("NVIDIA H20", 1.00),
        ("NVIDIA RTX 6000 Ada Generation", 1.40),
        ("Quadro RTX 6000", 0.72),
        ("NVIDIA GeForce RTX 4070 Ti", 1.05),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", 1.15),
        ("nvidia geforce rtx 2080 ti", 0.70),
    ],
)
def test_capability_weight_known(name: str, weight: float) -> None:
    assert capability_weight(name) == (weight, True)


def test_capability_weight_unknown() -> None:
    assert capability_weight("Mystery GPU 9000") == (1.0, False)
    assert capability_weight("") == (1.0, False)


def test_table_patterns_are_reachable() -> None:
    # A pattern listed below one it contains would never match.
    for pattern, weight in devices.GPU_WEIGHTS:
        assert capability_weight(pattern) == (weight, True), pattern
        assert 0 < weight < 10


def test_parse_indices() -> None:
    got = parse_gpus("2, 0", FOUR)
    assert [(d.index, d.kind, d.ordinal, d.name, d.weight) for d in got] == [
        (0, "cuda", 2, "Tesla T4", 0.25),
        (1, "cuda", 0, "NVIDIA GeForce RTX 4090", 1.50),
    ]
    assert [d.torch_device for d in got] == ["cuda:2", "cuda:0"]


def test_parse_all_auto_and_warnings() -> None:
    for spec in ("all", "auto", " ALL "):
        got = parse_gpus(spec, FOUR)
        assert [d.ordinal for d in got] == [0, 1, 2, 3]
    assert unknown_weight_warnings(got) == ["GPU3 'Mystery GPU 9000': unknown model, capability weight 1.0"]


def cpus(monkeypatch: pytest.MonkeyPatch, usable: int, machine: int = 64) -> None:
    """This process may run on ``usable`` of the machine's ``machine`` CPUs (a Slurm job's cpuset)."""
    monkeypatch.setattr(os, "cpu_count", lambda: machine)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(usable)))


def test_parse_auto_without_cuda_is_two_cpu_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        monkeypatch.delenv(name, raising=False)  # no GPU was handed to this process
    cpus(monkeypatch, 8)
    got = parse_gpus("auto", [])
    assert [(d.kind, d.name, d.threads) for d in got] == [("cpu", "cpu0", 4), ("cpu", "cpu1", 4)]


def test_parse_defaults_to_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    found = Discovery((CudaDevice(0, "NVIDIA L4", 24 * 2**30, "GPU-l4"),), "torch", ("a note",))
    monkeypatch.setattr(devices, "discover", lambda: found)
    got = parse_gpus("0")
    assert [(d.name, d.memory_total, d.uuid, d.source) for d in got] == [("NVIDIA L4", 24 * 2**30, "GPU-l4", "torch")]
    assert select_gpus("auto") == (got, found)


def test_cpu_and_sim_look_for_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "discover", lambda: pytest.fail("discovery ran for cpu:N"))
    assert select_gpus("cpu:1")[1] is None and select_gpus("sim:1")[1] is None


def test_parse_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cpus(monkeypatch, 2)
    got = parse_gpus("cpu:3", FOUR)
    assert [(d.index, d.kind, d.threads, d.weight) for d in got] == [(i, "cpu", 1, 1.0) for i in range(3)]
    assert got[0].label == "CPU0"


def test_parse_sim() -> None:
    got = parse_gpus("sim:2.5,1,0.75")
    assert [(d.name, d.kind, d.weight, d.speed) for d in got] == [
        ("sim0", "sim", 2.5, 2.5),
        ("sim1", "sim", 1.0, 1.0),
        ("sim2", "sim", 0.75, 0.75),
    ]


@pytest.mark.parametrize(
    ("spec", "found", "message"),
    [
        ("", FOUR, "--gpus: empty value; use 0,1,..., all, auto, cpu:N or sim:S1,S2,..."),
        ("foo", FOUR, "--gpus foo: not a device list; use 0,1,..., all, auto, cpu:N or sim:S1,S2,..."),
        ("0,", FOUR, "--gpus 0,: not a device list; use 0,1,..., all, auto, cpu:N or sim:S1,S2,..."),
        ("0,0", FOUR, "--gpus 0,0: device 0 is listed twice"),
        ("1,0,1", [], "--gpus 1,0,1: device 1 is listed twice"),  # said before "no CUDA"
        ("5", FOUR, "--gpus 5: no CUDA device 5 (found 0-3)"),
        ("-1", FOUR, "--gpus -1: no CUDA device -1 (found 0-3)"),
        ("1", FOUR[:1], "--gpus 1: no CUDA device 1 (found 0)"),
        ("0", [], "--gpus 0: this machine has no CUDA devices; use cpu:N or sim:S1,S2,..."),
        ("all", [], "--gpus all: this machine has no CUDA devices; use cpu:N or sim:S1,S2,..."),
        ("cpu:0", [], "--gpus cpu:0: cpu:N needs a whole number of workers, at least 1"),
        ("cpu:two", [], "--gpus cpu:two: cpu:N needs a whole number of workers, at least 1"),
        ("sim:1,-2", [], "--gpus sim:1,-2: sim speeds must be numbers > 0, got '-2'"),
        ("sim:1,,2", [], "--gpus sim:1,,2: sim speeds must be numbers > 0, got ''"),
        ("sim:nan", [], "--gpus sim:nan: sim speeds must be numbers > 0, got 'nan'"),
    ],
)
def test_parse_errors(spec: str, found: list[tuple[int, str]], message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_gpus(spec, found)
    assert str(err.value) == message


def test_gpu_workers_share_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # 64 cores on the node, a job's cpuset of 12: four GPU workers get 3 threads each, not 16
    cpus(monkeypatch, 12)
    assert [d.threads for d in parse_gpus("all", FOUR)] == [3, 3, 3, 3]
    assert [d.threads for d in parse_gpus("1", FOUR)] == [12]
    cpus(monkeypatch, 3)
    assert [d.threads for d in parse_gpus("all", FOUR)] == [1, 1, 1, 1]  # never 0
    assert [d.threads for d in parse_gpus("cpu:2", FOUR)] == [1, 1]
    assert [d.threads for d in parse_gpus("sim:1,2", FOUR)] == [None, None]  # a simulated GPU does no math
