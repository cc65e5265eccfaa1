"""Each GPU worker bound to its own device by UUID: discovery under
CUDA_DEVICE_ORDER, MIG instances each listed, Slurm's renumbering, the
worker's environment and the check of torch's UUID after setup. Against the
fake NVML node (tests/helpers/fake_nvml); the real worker processes are in
tests/integration/test_gpu_binding.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.helpers.nvml_node import gpu, install, mig
from virnucpro_bridge.hardware import discovery, nvml
from virnucpro_bridge.hardware.binding import ALLOC_CONF, BindingError, bare_uuid, bind, check_bound
from virnucpro_bridge.hardware.devices import DeviceSpec, select_gpus
from virnucpro_bridge.hardware.discovery import CudaDevice

# PCI order: an L4 first, then two H100s; CUDA's FASTEST_FIRST puts the H100s first.
MIXED = {"gpus": [gpu("NVIDIA L4", "GPU-l4"), gpu("NVIDIA H100 80GB HBM3", "GPU-h100a"),
                  gpu("NVIDIA H100 80GB HBM3", "GPU-h100b")]}
SAME = {"gpus": [gpu("NVIDIA A100-SXM4-80GB", f"GPU-a{i}") for i in range(4)]}
MIG_NODE = {"gpus": [gpu("NVIDIA A100-SXM4-40GB", "GPU-aaaa", mig=[
    mig("NVIDIA A100-SXM4-40GB MIG 3g.20gb", "MIG-1111", gi=1),
    mig("NVIDIA A100-SXM4-40GB MIG 2g.10gb", "MIG-2222", gi=5),
    mig("NVIDIA A100-SXM4-40GB MIG 1g.5gb", "MIG-3333", gi=13)]), gpu("NVIDIA L4", "GPU-bbbb")]}


@pytest.fixture(autouse=True)
def driver_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "nvidia_driver_present", lambda: True)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


def torch_lists(monkeypatch: pytest.MonkeyPatch, *devices: tuple[str, str]) -> None:
    """What torch would list in this process: (name, UUID) in CUDA's order."""
    listed = [CudaDevice(i, name, 80 * 2**30, uuid) for i, (name, uuid) in enumerate(devices)]
    monkeypatch.setattr(discovery, "torch_devices", lambda: listed)


def uuids(spec: str = "all") -> list[str | None]:
    return [d.uuid for d in select_gpus(spec)[0]]


def test_pci_order_comes_from_nvml_without_asking_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, MIXED)
    monkeypatch.setattr(discovery, "torch_devices", lambda: pytest.fail("torch asked"))
    assert uuids() == ["GPU-l4", "GPU-h100a", "GPU-h100b"]
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert uuids("0") == ["GPU-l4"]


def test_fastest_first_on_mixed_gpus_takes_cuda_order_from_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    # NVML numbers by PCI bus id; under FASTEST_FIRST CUDA's device 0 is an H100,
    # so --gpus 0 and the UUID its worker is bound to come from torch's order.
    install(monkeypatch, MIXED)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    torch_lists(monkeypatch, ("NVIDIA H100 80GB HBM3", "GPU-h100a"), ("NVIDIA H100 80GB HBM3", "GPU-h100b"),
                ("NVIDIA L4", "GPU-l4"))
    found = discovery.discover()
    assert found.source == discovery.SOURCE_TORCH
    assert "CUDA_DEVICE_ORDER=FASTEST_FIRST on a node of mixed GPU models" in found.warnings[0]
    assert uuids("0") == ["GPU-h100a"]
    assert uuids("2,0") == ["GPU-l4", "GPU-h100a"]


def test_fastest_first_positions_in_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, MIXED)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # CUDA's fastest: not NVML's GPU 0 (the L4)
    torch_lists(monkeypatch, ("NVIDIA H100 80GB HBM3", "GPU-h100a"))
    assert uuids() == ["GPU-h100a"]
    # UUIDs name the same GPUs in any order: NVML alone is sure
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-h100b,GPU-l4")
    monkeypatch.setattr(discovery, "torch_devices", lambda: pytest.fail("torch asked"))
    assert uuids() == ["GPU-h100b", "GPU-l4"]


def test_fastest_first_on_one_model_is_pci_order(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, SAME)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    monkeypatch.setattr(discovery, "torch_devices", lambda: pytest.fail("torch asked"))
    assert uuids() == ["GPU-a2", "GPU-a3"]


def test_slurm_renumbering_binds_the_jobs_own_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # Slurm without device cgroups: NVML sees the node's 4 GPUs and CUDA_VISIBLE_DEVICES=2,3.
    # The workers' own CUDA_VISIBLE_DEVICES must name GPUs 2 and 3, not "0" and "1".
    install(monkeypatch, SAME)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    specs = select_gpus("all")[0]
    env = [dict(CUDA_VISIBLE_DEVICES="2,3") for _ in specs]
    bound = [bind(spec, e) for spec, e in zip(specs, env, strict=True)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in env] == ["GPU-a2", "GPU-a3"]
    assert [(b.ordinal, b.torch_device) for b in bound] == [(0, "cuda:0"), (0, "cuda:0")]
    assert [(s.index, s.ordinal) for s in specs] == [(0, 0), (1, 1)]  # the main process's view is unchanged


def test_every_mig_instance_is_a_device_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, MIG_NODE)
    monkeypatch.setattr(discovery, "torch_devices", lambda: pytest.fail("torch asked"))
    found = discovery.discover()
    assert found.source == discovery.SOURCE_NVML and not found.warnings
    assert [(d.index, d.uuid) for d in found.devices] == [(0, "MIG-1111"), (1, "MIG-2222"), (2, "MIG-3333"),
                                                          (3, "GPU-bbbb")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-3333,MIG-1111")  # a scheduler's list of instances
    specs = select_gpus("all")[0]
    envs = [{} for _ in specs]
    for spec, env in zip(specs, envs, strict=True):
        bind(spec, env)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["MIG-3333", "MIG-1111"]
    assert nvml.parent_uuid("MIG-2222") == "GPU-aaaa" and nvml.parent_uuid("GPU-bbbb") is None


def test_a_mig_sampler_reads_its_own_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    node = {"gpus": [gpu("A100", "GPU-aaaa", mig=[mig("MIG 1", "MIG-1111", gi=1, total=10 * 2**30),
                                                   mig("MIG 2", "MIG-2222", gi=2, total=20 * 2**30)])]}
    node["gpus"][0]["mig"][1]["used"] = 5 * 2**30
    install(monkeypatch, node)
    sampler = nvml.NvmlSampler(0, "MIG-2222")  # by UUID: the index is not consulted
    assert sampler.memory_bytes() == (5 * 2**30, 20 * 2**30)
    sampler.close()


def spec(uuid: str | None = "GPU-h100b", ordinal: int = 2) -> DeviceSpec:
    return DeviceSpec(1, "cuda", "NVIDIA H100 80GB HBM3", 2.5, ordinal=ordinal, uuid=uuid)


def test_bind_sets_the_uuid_and_the_allocator_unless_the_user_chose() -> None:
    env: dict[str, str] = {"CUDA_VISIBLE_DEVICES": "0,1,2", "CUDA_DEVICE_ORDER": "FASTEST_FIRST"}
    bound = bind(spec(), env)
    assert env == {"CUDA_VISIBLE_DEVICES": "GPU-h100b", "CUDA_DEVICE_ORDER": "FASTEST_FIRST",
                   "PYTORCH_CUDA_ALLOC_CONF": ALLOC_CONF}
    assert bound.ordinal == 0 and bound.uuid == "GPU-h100b" and bound.index == 1
    for user in ({"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128"}, {"PYTORCH_ALLOC_CONF": "backend:native"}):
        env = dict(user)
        bind(spec(), env)
        assert {k: v for k, v in env.items() if k != "CUDA_VISIBLE_DEVICES"} == user


def test_bind_without_a_uuid_takes_the_parents_entry() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "5,7,9"}
    bind(spec(None, 1), env)
    assert env["CUDA_VISIBLE_DEVICES"] == "7"
    env = {}
    bind(spec(None, 1), env)
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    with pytest.raises(BindingError, match="CUDA device 4 is not in CUDA_VISIBLE_DEVICES='5,7'"):
        bind(spec(None, 4), {"CUDA_VISIBLE_DEVICES": "5,7"})


def test_bind_leaves_cpu_and_sim_workers_alone() -> None:
    env: dict[str, str] = {}
    for kind in ("cpu", "sim"):
        other = DeviceSpec(0, kind, f"{kind}0", 1.0)
        assert bind(other, env) is other
    assert env == {}


def fake_torch(uuid: object) -> SimpleNamespace:
    return SimpleNamespace(cuda=SimpleNamespace(get_device_properties=lambda i: SimpleNamespace(uuid=uuid)))


def test_check_bound_compares_torchs_uuid() -> None:
    bound = bind(spec(), {})
    check_bound(bound, fake_torch("h100b"))  # torch prints the bare UUID
    with pytest.raises(BindingError) as err:
        check_bound(bound, fake_torch("l4"))
    assert "GPU1 was given GPU-h100b but torch's cuda:0 is l4" in str(err.value)
    check_bound(bound, fake_torch(None))  # a torch too old to say: nothing to compare


def test_check_bound_accepts_a_mig_instance_shown_as_its_gpu() -> None:
    instance = DeviceSpec(0, "cuda", "A100 MIG 1g.5gb", 1.2, ordinal=0, uuid="MIG-1111")
    check_bound(instance, fake_torch("1111"))
    check_bound(instance, fake_torch("aaaa"), parent_uuid="GPU-aaaa")  # CUDA before 11.4
    with pytest.raises(BindingError):
        check_bound(instance, fake_torch("aaaa"))


def test_bare_uuid() -> None:
    assert bare_uuid("GPU-58D6-1") == bare_uuid("MIG-58d6-1") == bare_uuid(" 58d6-1") == "58d6-1"
