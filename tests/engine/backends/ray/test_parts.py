"""The Ray backend's pure parts, without Ray: records as FASTA, node names, GPU discovery."""

from __future__ import annotations

import pytest

from virnucpro_bridge.backends.ray import cluster as ray_cluster
from virnucpro_bridge.backends.ray.actor import fasta_text
from virnucpro_bridge.errors import UsageError
from virnucpro_bridge.inputs import fasta


def test_records_sent_to_an_actor_parse_back_the_same(tmp_path) -> None:
    src = tmp_path / "in.fa"
    src.write_text(">a first one\nACGT\nAC\n>b\n\n> c  spaced\r\nnn-*\n")
    records = list(fasta.iter_records(str(src)))
    copy = tmp_path / "copy.fa"
    copy.write_bytes(fasta_text(records))
    assert list(fasta.iter_records(str(copy))) == records


def test_nodes_are_named_by_host_unless_hosts_repeat() -> None:
    nodes = [{"NodeID": "aa" * 28, "NodeManagerHostname": "gpu1"}, {"NodeID": "bb" * 28, "NodeManagerHostname": "gpu2"}]
    assert ray_cluster.node_names(nodes) == {"aa" * 28: "gpu1", "bb" * 28: "gpu2"}
    nodes[1]["NodeManagerHostname"] = "gpu1"
    assert ray_cluster.node_names(nodes) == {"aa" * 28: "aaaaaaaa", "bb" * 28: "bbbbbbbb"}


def fake_cluster(monkeypatch, nodes: list[dict]) -> None:
    monkeypatch.setattr(ray_cluster, "alive_nodes", lambda: nodes)


def test_gpus_all_is_one_device_per_gpu_pinned_to_its_node(monkeypatch) -> None:
    fake_cluster(monkeypatch, [
        {"NodeID": "n1" * 28, "NodeManagerHostname": "a",
         "Resources": {"GPU": 2.0, "CPU": 12.0, "accelerator_type:H100": 1.0}},
        {"NodeID": "n2" * 28, "NodeManagerHostname": "b", "Resources": {"CPU": 8.0}},
        {"NodeID": "n3" * 28, "NodeManagerHostname": "c", "Resources": {"GPU": 1.0}},
    ])
    devices, pinned = ray_cluster.cluster_devices("all")
    assert [(d.index, d.kind, d.name, d.weight) for d in devices] == [
        (0, "cuda", "a/H100", 2.5), (1, "cuda", "a/H100", 2.5), (2, "cuda", "c/GPU", 1.0)]
    assert pinned == {0: "n1" * 28, 1: "n1" * 28, 2: "n3" * 28}
    assert all(d.known for d in devices)  # "GPU": named (and warned about) once its actor is up
    assert [d.threads for d in devices] == [6, 6, 1]  # the node's CPUs shared among its GPU actors


def test_gpu_specs_on_a_cluster_without_gpus(monkeypatch) -> None:
    fake_cluster(monkeypatch, [{"NodeID": "n1" * 28, "NodeManagerHostname": "a", "Resources": {"CPU": 4.0}}])
    devices, pinned = ray_cluster.cluster_devices("auto")
    assert [d.kind for d in devices] == ["cpu", "cpu"] and pinned == {}
    with pytest.raises(UsageError, match="^--gpus all: the Ray cluster has no GPUs"):
        ray_cluster.cluster_devices("all")
    with pytest.raises(UsageError, match="with --backend ray use all, auto, cpu:N or sim"):
        ray_cluster.cluster_devices("0,1")
    assert [d.speed for d in ray_cluster.cluster_devices("sim:2,1")[0]] == [2.0, 1.0]
