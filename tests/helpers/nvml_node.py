"""Fake NVML nodes for tests: in this process, or for spawned ``lbtui run``s.

``install(monkeypatch, node)`` puts ``tests/helpers/fake_nvml/pynvml.py`` in
``sys.modules`` as ``pynvml``, describing ``node`` (None: NVML's library is
missing, so ``import pynvml`` fails). ``subprocess_env(tmp_path, node)`` gives
the environment under which a child process and its workers see the same node.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

FAKE_DIR = Path(__file__).resolve().parent / "fake_nvml"
GIB = 2**30


def gpu(name: str, uuid: str, *, total: int = 80 * GIB, used: int = GIB, refused: bool = False,
        mig: list[dict] | None = None) -> dict:
    entry: dict[str, Any] = {"name": name, "uuid": uuid, "total": total, "used": used, "refused": refused}
    if mig is not None:
        entry["mig"] = mig
    return entry


def mig(name: str, uuid: str, gi: int, ci: int = 0, total: int = 10 * GIB) -> dict:
    return {"name": name, "uuid": uuid, "total": total, "used": 0, "gi": gi, "ci": ci}


def load_fake() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pynvml", FAKE_DIR / "pynvml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install(monkeypatch: pytest.MonkeyPatch, node: dict | None) -> ModuleType | None:
    """NVML for this process: ``node`` (``{"gpus": [...]}``), or missing when None."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    if node is None:
        real_import = builtins.__import__

        def blocked(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "pynvml":
                raise ImportError("no pynvml")
            return real_import(name, *args, **kwargs)

        monkeypatch.delitem(sys.modules, "pynvml", raising=False)
        monkeypatch.setattr(builtins, "__import__", blocked)
        return None
    fake = load_fake()
    fake.configure(node)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def subprocess_env(tmp_path: Path, node: dict) -> dict[str, str]:
    """Environment for a child ``lbtui run`` that sees ``node`` (holds under tmp_path/holds)."""
    holds = tmp_path / "holds"
    holds.mkdir(exist_ok=True)
    path = tmp_path / "node.json"
    path.write_text(json.dumps({**node, "holds": str(holds)}))
    return {"PYTHONPATH": str(FAKE_DIR), "LBTUI_FAKE_NVML": str(path)}
