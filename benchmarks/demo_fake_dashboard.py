"""Try the dashboard by hand against a fake run whose numbers move.

    .venv/bin/python benchmarks/demo_fake_dashboard.py [--devices 8] [--refresh 1]

No engine, no GPU: the fake coordinator from tests/app/fake.py works through
its queues with the wall clock, steals when a queue runs dry, and obeys
p / d / s / q like the real one.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

FAKE = Path(__file__).resolve().parents[1] / "tests" / "app" / "fake.py"


def load_fake():
    spec = importlib.util.spec_from_file_location("lbtui_tests_fake", FAKE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--refresh", type=float, default=1.0)
    parser.add_argument("--exit-on-finish", action="store_true")
    args = parser.parse_args()

    from lbtui.app import run_dashboard

    fake = load_fake().LiveFake(args.devices, clock=time.time)
    run_dashboard(fake, fake, refresh=args.refresh, exit_on_finish=args.exit_on_finish, title="lbtui demo")
    print(f"commands received: {fake.calls}")


if __name__ == "__main__":
    main()
