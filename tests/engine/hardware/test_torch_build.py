"""The check before CUDA workers start: the installed torch is a CUDA build,
told from its files without importing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.nvml_node import gpu, subprocess_env
from tests.integration.conftest import REPO, env_with, lbtui_args, make_inputs
from virnucpro_bridge.hardware import torch_build
from virnucpro_bridge.hardware.torch_build import TorchBuildError, installed_torch, require_cuda_torch

CPU_VERSION_PY = """from typing import Optional

__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'xpu']
__version__ = '2.13.0+cpu'
debug = False
cuda: Optional[str] = None
git_version = 'abc'
hip: Optional[str] = None
"""


def fake_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, version_py: str) -> Path:
    """A torch package whose import fails the test: only its version.py may be read."""
    folder = tmp_path / "site" / "torch"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("raise AssertionError('torch was imported')\n")
    (folder / "version.py").write_text(version_py)
    monkeypatch.syspath_prepend(str(folder.parent))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    return folder


def test_a_cpu_build_is_refused_in_one_line_naming_what_to_do(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    folder = fake_site(monkeypatch, tmp_path, CPU_VERSION_PY)
    assert installed_torch() == torch_build.TorchBuild("2.13.0+cpu", None, folder)
    with pytest.raises(TorchBuildError) as err:
        require_cuda_torch()
    message = str(err.value)
    assert message.startswith(f"torch 2.13.0+cpu ({folder}) is a CPU build and cannot use the GPUs: "
                              "install a CUDA build: `make install` on a GPU node")
    assert "TORCH_BUILD=cu126" in message and "\n" not in message
    assert err.value.exit_code == 2
    assert "torch" not in sys.modules


def test_a_cuda_build_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_site(monkeypatch, tmp_path, CPU_VERSION_PY.replace("'2.13.0+cpu'", "'2.11.0'").replace(
        "cuda: Optional[str] = None", "cuda: Optional[str] = '13.0'"))
    build = require_cuda_torch()
    assert (build.version, build.cuda) == ("2.11.0", "13.0")  # PyPI's wheel: no local label, CUDA all the same


def test_no_torch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_build.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TorchBuildError, match="^torch is not installed, and the GPU workers need it: install"):
        require_cuda_torch()


def test_an_unreadable_version_file_leaves_it_to_the_workers(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    fake_site(monkeypatch, tmp_path, "this is not python (")
    assert require_cuda_torch() is None


def python(code: str) -> list[str]:
    """What a fresh interpreter prints (this process may hold a stand-in torch from another test)."""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def real_torch() -> tuple[str, str]:
    version, cuda = python("import torch; print(torch.__version__, torch.version.cuda)")
    return version, cuda


def test_the_real_torch_is_read_without_importing_it() -> None:
    read = python("import sys; from virnucpro_bridge.hardware.torch_build import installed_torch; "
                  "b = installed_torch(); print(b.version, b.cuda, 'torch' in sys.modules)")
    assert read == [*real_torch(), "False"]


@pytest.mark.slow
def test_lbtui_run_on_gpus_with_a_cpu_torch_exits_2_before_any_worker(tmp_path: Path) -> None:
    version, cuda = real_torch()
    if cuda != "None":
        pytest.skip("this Python's torch is a CUDA build")
    env = subprocess_env(tmp_path, {"gpus": [gpu("NVIDIA H100 80GB HBM3", "GPU-h100")]})
    inputs = make_inputs(tmp_path / "in", 1, seqs=2)
    proc = subprocess.run(lbtui_args(inputs, tmp_path / "out", "--task", "virnucpro", "--gpus", "all"),
                          cwd=REPO, env=env_with(env), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lbtui: error: torch {version} (")
    assert "is a CPU build and cannot use the GPUs" in lines[0]
    assert not (tmp_path / "out" / "manifest.jsonl").exists()
