"""The engine never imports the screen: no textual, no rich (harlequin's check).

Each module is imported in a fresh interpreter, so one module importing
textual cannot hide behind another that already did.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import virnucpro_bridge

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("textual", "rich")


def engine_modules() -> list[str]:
    names = ["virnucpro_bridge"]
    for info in pkgutil.walk_packages(virnucpro_bridge.__path__, "virnucpro_bridge."):
        names.append(info.name)
    return sorted(names)


def test_the_engine_has_modules() -> None:
    names = engine_modules()
    assert "virnucpro_bridge.coordinator" in names and "virnucpro_bridge.tasks.sim" in names


@pytest.mark.parametrize("module", engine_modules())
def test_module_imports_no_ui(module: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(','.join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"{module} imports {proc.stdout.strip()}"


def test_headless_cli_path_imports_no_ui() -> None:
    """`lbtui run --headless` needs only lbtui.cli, run_cmd and headless: none of them pull textual."""
    code = (
        "import sys, lbtui.cli, lbtui.headless, lbtui.run_cmd, lbtui.report.page, lbtui.report.command\n"
        "print(','.join(m for m in ('textual',) if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("module", ["lbtui.format", "lbtui.headless", "lbtui.remote"])
def test_formatting_imports_no_ui(module: str) -> None:
    """The formatting shared by the dashboard, the headless log and reports, and the channel client
    (`lbtui attach` without a terminal), need neither textual nor rich."""
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(','.join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"{module} imports {proc.stdout.strip()}"
