"""The run fixtures of tests/integration (``lbtui run`` as a subprocess), for the hostile-input tests."""

from __future__ import annotations

from tests.integration.conftest import run_lbtui, start_lbtui  # noqa: F401 (fixtures, found by name)
