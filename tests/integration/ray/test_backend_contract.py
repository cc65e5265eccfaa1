"""The Ray backend (one actor per device) against the backend contract (``../contract.py``)."""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("ray")

from tests.integration.contract import BackendContract  # noqa: E402
from virnucpro_bridge.backends.ray import cluster as ray_cluster  # noqa: E402
from virnucpro_bridge.backends.ray.backend import RayPool  # noqa: E402


class TestRayBackend(BackendContract):
    @pytest.fixture
    def status(self, cluster):
        """Actors' readings arrive through calls: the driver fills a plain dict."""
        ray_cluster.connect(cluster)
        yield {}
        ray_cluster.disconnect()

    @pytest.fixture
    def make_backend(self, status):
        node_names = ray_cluster.node_names(ray_cluster.alive_nodes())
        return functools.partial(RayPool, pinned={}, node_names=node_names)
