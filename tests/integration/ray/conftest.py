"""A two-node Ray cluster on this machine for the tests under tests/integration/ray.

``ray.cluster_utils.Cluster`` starts a head node and a second node as
separate raylets (1 CPU each), so placement and node ids behave as on a real
cluster, and a node can be taken away (``remove_node``). One cluster per
module: starting one costs seconds.
Everything here is ``slow``; without ray installed the tests skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    """The two-node cluster itself (``ray.cluster_utils.Cluster``), for tests that
    take a node away. Per module, so that two raylets and their agents do not stay
    up, taking memory and CPU, for the rest of the suite; a module that removes a
    node has the cluster to itself."""
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def cluster(ray_cluster) -> str:
    """The cluster's address (``--ray-address``)."""
    return ray_cluster.address


def pytest_collection_modifyitems(config, items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
