"""The local backend (worker processes, pipes) against the backend contract (``contract.py``)."""

from __future__ import annotations

import pytest

from tests.integration.contract import BackendContract
from virnucpro_bridge.backends.local.pool import LocalPool, start_manager

pytestmark = pytest.mark.slow


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def status(self):
        """The Manager dict the workers report into, as the runner makes it."""
        manager, status = start_manager()
        yield status
        manager.shutdown()

    @pytest.fixture
    def make_backend(self):
        return LocalPool
