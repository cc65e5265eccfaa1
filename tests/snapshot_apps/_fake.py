"""Shared set-up for the snapshot apps: UTC clock faces and the fake coordinator.

``snap_compare`` loads each app file by path (adding this folder to sys.path),
so the fake in tests/app/fake.py is loaded by path too.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

os.environ["TZ"] = "UTC"  # event times are shown as local time of day
time.tzset()

_PATH = Path(__file__).resolve().parents[1] / "app" / "fake.py"
if "lbtui_tests_fake" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("lbtui_tests_fake", _PATH)
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["lbtui_tests_fake"] = _module
    _spec.loader.exec_module(_module)
fake = sys.modules["lbtui_tests_fake"]


def make_app(snap, **kwargs):
    """The real app over a fake with one snapshot: fixed clock, no timers, and a
    Trend history as if it had been watching for a while."""
    from lbtui.app import LbtuiApp

    coordinator = fake.FakeCoordinator(snap)
    app = LbtuiApp(coordinator, coordinator, clock=lambda: fake.T0, poll=False, **kwargs)
    app.history.update(fake.trend_history(snap))
    return app
