"""The engine never imports the screen: no textual, no rich (harlequin's check).

Each module is imported in a fresh interpreter, so one module importing
textual cannot hide behind another that already did.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

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


def first_importers(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, str]:
    """Import ``modules`` one after another in one fresh interpreter; for each forbidden
    package, the first module after whose import it appeared (it or what it imports
    pulled it in). One interpreter for all keeps this check in the fast suite."""
    code = (
        "import importlib, json, sys\n"
        f"found = {{}}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    for pkg in {forbidden!r}:\n"
        "        if pkg in sys.modules and pkg not in found:\n"
        "            found[pkg] = name\n"
        "print(json.dumps(found))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_no_engine_module_imports_the_ui() -> None:
    assert first_importers(engine_modules(), FORBIDDEN) == {}


def test_the_check_sees_an_import_of_the_ui() -> None:
    """The same check on a module known to import textual names it."""
    assert first_importers(["json", "lbtui.app.gpu_table"], FORBIDDEN).get("textual") == "lbtui.app.gpu_table"


def test_headless_cli_path_imports_no_ui() -> None:
    """`lbtui run --headless` needs only lbtui.cli, run_cmd and headless: none of them pull textual."""
    code = (
        "import sys, lbtui.cli, lbtui.headless, lbtui.run_cmd, lbtui.report.page, lbtui.report.command\n"
        "print(','.join(m for m in ('textual',) if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_formatting_imports_no_ui() -> None:
    """The formatting shared by the dashboard, the headless log and reports, and the channel client
    (`lbtui attach` without a terminal), need neither textual nor rich."""
    assert first_importers(["lbtui.format", "lbtui.headless", "lbtui.remote"], FORBIDDEN) == {}


def test_the_cli_module_imports_no_command_until_it_runs() -> None:
    """A spawned worker imports the parent's __main__ again (``lbtui.cli``, or the
    ``lbtui`` script that imports it): that must not pull in the engine or asyncio."""
    code = ("import json, sys; import lbtui.cli; "
            "print(json.dumps([m for m in ('lbtui.run_cmd', 'virnucpro_bridge.runner', 'asyncio', "
            "'textual') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []
