"""Fixtures for the hostile-input tests: the run fixtures of tests/integration (``lbtui run``
as a subprocess), and the run folder of tests/attach (a live channel over a fake coordinator)."""

from __future__ import annotations

from tests.attach.conftest import served  # noqa: F401 (a fixture, found by name)
from tests.integration.conftest import run_lbtui, start_lbtui  # noqa: F401 (fixtures, found by name)
