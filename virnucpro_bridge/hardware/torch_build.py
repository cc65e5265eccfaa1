"""Which torch this Python would import, read from its files without importing it.

``lbtui run`` on GPUs checks, before any worker starts, that the torch its
workers will import is a CUDA build: a CPU build (what a GPU-less login node
or a plain ``pip install`` elsewhere gives) would otherwise fail every
worker's setup, one by one. Importing torch costs the main process a second
or two and hundreds of MB, so its ``version.py`` is read as text instead.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import LbtuiError

INSTALL_HINT = ("install a CUDA build: `make install` on a GPU node (it picks the build for the driver), "
                "or `make install TORCH_BUILD=cu126` (cu128, cu130) on a node with internet")


class TorchBuildError(LbtuiError):
    """The installed torch cannot run on the GPUs asked for: exit 2."""


@dataclass(frozen=True)
class TorchBuild:
    version: str  # "2.13.0+cu130"
    cuda: str | None  # "13.0"; None for a CPU build
    path: Path  # its package folder


def _constants(source: str) -> dict[str, object]:
    """Module-level ``name = constant`` / ``name: T = constant`` assignments."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            continue
        if isinstance(value, ast.Constant):
            found[target] = value.value
    return found


def installed_torch() -> TorchBuild | None:
    """The torch ``import torch`` would load here; None when there is none. Raises
    OSError or SyntaxError when its ``version.py`` cannot be read."""
    spec = importlib.util.find_spec("torch")  # finds, never executes, a top-level package
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    values = _constants((folder / "version.py").read_text(encoding="utf-8"))
    version = values.get("__version__")
    if not isinstance(version, str):
        try:
            version = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            version = "(unknown version)"
    cuda = values.get("cuda")
    return TorchBuild(version, cuda if isinstance(cuda, str) and cuda else None, folder)


def require_cuda_torch() -> TorchBuild | None:
    """TorchBuildError unless the torch here is a CUDA build; None when its files
    cannot be read (the workers' setup will say what is wrong)."""
    try:
        build = installed_torch()
    except (OSError, SyntaxError, ValueError):
        return None
    if build is None:
        raise TorchBuildError(f"torch is not installed, and the GPU workers need it: {INSTALL_HINT}")
    if build.cuda is None:
        raise TorchBuildError(f"torch {build.version} ({build.path}) is a CPU build and cannot use the GPUs: "
                              f"{INSTALL_HINT}; or run on CPU workers with --gpus cpu:N")
    return build
