"""The torch install: which build, replacing a CPU torch on a GPU machine, and the
check after it. No download ever happens: ``make install PIP=stub`` logs what it
would run, and a stub ``nvidia-smi`` plays the GPUs and the driver."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CU = "https://download.pytorch.org/whl/cu"


def load_tool():
    spec = importlib.util.spec_from_file_location("torch_wheel", REPO / "scripts" / "torch_wheel.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["torch_wheel"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


tw = load_tool()
CPU_TORCH = "2.13.0+cpu cpu"


@pytest.mark.parametrize(
    ("installed", "driver", "caps", "expected"),
    [
        ("absent", "", "", "install cpu local-cpu torch==2.13.0"),  # a fresh CPU machine (CI)
        (CPU_TORCH, "", "", "keep cpu"),
        ("2.12.0+cpu cpu", "", "", "install cpu local-cpu torch==2.13.0"),  # TORCH_VERSION moved on
        (CPU_TORCH, "13.0", "9.0", f"install cuda {CU}130 torch==2.13.0+cu130"),  # H100: the CPU torch goes
        (CPU_TORCH, "13.2", "7.5,8.6,12.0", f"install cuda {CU}130 torch==2.13.0+cu130"),  # T4 .. RTX 5090
        (CPU_TORCH, "12.8", "8.0", f"install cuda {CU}126 torch==2.13.0+cu126"),  # driver 570: CUDA 12 only
        (CPU_TORCH, "13.0", "7.0,8.0", f"install cuda {CU}126 torch==2.13.0+cu126"),  # V100: no sm70 in cu130
        (CPU_TORCH, "12.2", "6.0", f"install cuda {CU}126 torch==2.13.0+cu126"),  # P100 on driver 535
        ("2.13.0+cu130 13.0", "13.0", "9.0", "keep cuda"),
        ("2.13.0+cu130 13.0", "13.0", "7.0", f"install cuda {CU}126 torch==2.13.0+cu126"),  # it cannot run here
        ("2.13.0+cu126 12.6", "13.0", "9.0", f"install cuda {CU}130 torch==2.13.0+cu130"),
    ],
)
def test_plan_picks_the_build_for_the_driver_and_the_gpus(installed: str, driver: str, caps: str,
                                                          expected: str) -> None:
    assert tw.plan("2.13.0", installed, driver_cuda=driver, caps=caps) == expected


@pytest.mark.parametrize(
    ("driver", "caps", "message"),
    [
        ("12.4", "12.0", "the NVIDIA driver supports CUDA 12.4; torch 2.13.0 for these GPUs needs CUDA 13.0"),
        ("11.8", "8.0", "the NVIDIA driver supports CUDA 11.8; torch 2.13.0 for these GPUs needs CUDA 12.0"),
        ("13.0", "6.1,12.0", "no torch 2.13.0 build has kernels for both compute capability 6.1 and 12.0"),
        ("13.0", "3.7", "no torch 2.13.0 build runs on compute capability 3.7"),
        ("", "9.0", "nvidia-smi shows a GPU but not its CUDA version"),
        ("13.0", "unknown", "nvidia-smi shows a GPU but not its CUDA version or compute capability"),
    ],
)
def test_plan_refuses_what_no_build_can_run(driver: str, caps: str, message: str) -> None:
    with pytest.raises(tw.Refusal, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        tw.plan("2.13.0", CPU_TORCH, driver_cuda=driver, caps=caps)


def test_torch_index_wins_over_what_is_installed_and_what_is_found() -> None:
    assert tw.plan("2.13.0", CPU_TORCH, index=f"{CU}126") == f"install cuda-build {CU}126 torch==2.13.0+cu126"
    assert tw.plan("2.13.0", "2.13.0+cu126 12.6", index=f"{CU}126/") == "keep cuda-build"
    # a GPU machine that wants the CPU build anyway
    assert tw.plan("2.13.0", "2.13.0+cu130 13.0", index="https://download.pytorch.org/whl/cpu",
                   driver_cuda="13.0", caps="9.0") == (
        "install cpu https://download.pytorch.org/whl/cpu torch==2.13.0+cpu")
    # a mirror: no local version label to pin, the check afterwards says what came
    assert tw.plan("2.13.0", CPU_TORCH, index="https://mirror.example/torch", driver_cuda="13.0",
                   caps="9.0") == "install cuda https://mirror.example/torch torch==2.13.0"


def test_another_release_needs_its_build_table() -> None:
    with pytest.raises(tw.Refusal, match="no CUDA build table for torch 2.20.0"):
        tw.plan("2.20.0", CPU_TORCH, driver_cuda="13.0", caps="9.0")
    assert tw.plan("2.20.0", CPU_TORCH, driver_cuda="14.0", caps="9.0",
                   builds_override="cu140:14.0:8.0:12.0") == f"install cuda {CU}140 torch==2.20.0+cu140"


# -- the check after install, against stand-ins for torch -------------------------------

def fake_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, build: str, caps: str, broken: bool = False):
    monkeypatch.setenv("STUB_CAPS", caps)
    if broken:
        monkeypatch.setenv("FAKE_TORCH_BROKEN", "1")
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True)
    for f in (HERE / "fake_torch" / "torch").iterdir():
        (site / "torch" / f.name).write_bytes(f.read_bytes())
    (site / "torch" / "build.txt").write_text(build)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "torch", raising=False)


def test_verify_runs_a_kernel_on_every_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_torch(monkeypatch, tmp_path, "2.13.0+cu130 13.0", "9.0,8.0")
    assert tw.verify("cuda", "13.0") == "torch 2.13.0+cu130 (CUDA 13.0) works on 2 GPU(s)"


def test_verify_names_the_gpu_it_cannot_run_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_torch(monkeypatch, tmp_path, "2.13.0+cu130 13.0", "7.0", broken=True)
    with pytest.raises(tw.Refusal) as err:
        tw.verify("cuda")
    assert str(err.value) == ("torch 2.13.0+cu130 cannot run on cuda:0 (Stub GPU sm7.0, compute capability 7.0): "
                              "CUDA error: no kernel image is available for execution on the device")


def test_verify_refuses_a_cpu_build_or_no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_torch(monkeypatch, tmp_path, "2.13.0+cu130 13.0", "")
    with pytest.raises(tw.Refusal, match=r"sees no usable GPU: torch.cuda.is_available\(\) is False"):
        tw.verify("cuda")
    assert tw.verify("cuda-build", "13.0").endswith("no GPU here to try it on")
    with pytest.raises(tw.Refusal, match="is built for CUDA 13.0, not 12.6"):
        tw.verify("cuda-build", "12.6")
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="2.13.0+cpu",
                                                              version=SimpleNamespace(cuda=None)))
    with pytest.raises(tw.Refusal, match="is a CPU build"):
        tw.verify("cuda")


# -- make install, end to end, with stubs ---------------------------------------------------

@pytest.fixture
def make_install(tmp_path: Path):
    """``make install`` into a throwaway venv whose python is this test's (a CPU torch),
    with the stub pip; returns (result, the pip calls)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    site = tmp_path / "site"
    site.mkdir()
    log = tmp_path / "pip.log"

    def run(*, caps: str | None, cuda: str = "13.0", target: str = "install",
            **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        path = os.environ["PATH"] if caps is None else f"{HERE / 'stubs'}:{os.environ['PATH']}"
        full = {k: v for k, v in os.environ.items() if k not in ("TORCH_INDEX", "MAKEFLAGS", "MFLAGS")}
        full.update(PATH=path, PIP_LOG=str(log), FAKE_SITE=str(site), PYTHONPATH=str(site),
                    STUB_CAPS=caps or "", STUB_CUDA=cuda, **env)
        proc = subprocess.run(["make", "-s", target, f"VENV={venv}", f"PIP={HERE / 'stubs' / 'pip'}"],
                              cwd=REPO, env=full, capture_output=True, text=True, timeout=300)
        calls = log.read_text().splitlines() if log.exists() else []
        return proc, calls

    return run


def torch_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if "-e" not in c.split()]


@pytest.mark.slow
def test_make_install_replaces_a_cpu_torch_on_a_gpu_machine(make_install) -> None:
    proc, calls = make_install(caps="9.0,9.0", cuda="13.0")
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls) == ["uninstall -q -y torch",
                                  f"install -q torch==2.13.0+cu130 --index-url {CU}130"]
    assert "install_torch: replacing torch 2.13.0+cpu (cpu) with torch==2.13.0+cu130" in proc.stderr
    assert "torch 2.13.0+cu130 (CUDA 13.0) works on 2 GPU(s)" in proc.stderr


@pytest.mark.slow
def test_make_install_gives_a_v100_the_cuda_12_build(make_install) -> None:
    proc, calls = make_install(caps="7.0", cuda="13.0")
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls)[-1] == f"install -q torch==2.13.0+cu126 --index-url {CU}126"


@pytest.mark.slow
def test_make_install_refuses_in_one_line_when_no_build_fits(make_install) -> None:
    proc, calls = make_install(caps="12.0", cuda="12.4")  # Blackwell on a CUDA 12 driver
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("install_torch:")]
    assert len(errors) == 1 and errors[0].startswith(
        "install_torch: error: the NVIDIA driver supports CUDA 12.4; torch 2.13.0 for these GPUs needs CUDA 13.0")
    assert "Traceback" not in proc.stderr
    assert calls == []  # nothing installed, nothing removed


@pytest.mark.slow
def test_make_install_fails_in_one_line_when_the_build_cannot_run(make_install) -> None:
    proc, calls = make_install(caps="7.0", TORCH_INDEX=f"{CU}130", FAKE_TORCH_BROKEN="1")  # forced: no sm70
    assert proc.returncode != 0
    assert torch_calls(calls)[-1] == f"install -q torch==2.13.0+cu130 --index-url {CU}130"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("install_torch: error")]
    assert errors == ["install_torch: error: torch 2.13.0+cu130 cannot run on cuda:0 (Stub GPU sm7.0, compute "
                      "capability 7.0): CUDA error: no kernel image is available for execution on the device"]


@pytest.mark.slow
def test_make_install_honours_torch_index_without_a_gpu(make_install) -> None:
    proc, calls = make_install(caps=None, TORCH_INDEX=f"{CU}126")
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls) == ["uninstall -q -y torch", f"install -q torch==2.13.0+cu126 --index-url {CU}126"]
    assert "torch 2.13.0+cu126 (CUDA 12.6) installed; no GPU here to try it on" in proc.stderr


@pytest.mark.slow
def test_make_install_keeps_a_cpu_torch_without_a_gpu(make_install) -> None:
    proc, calls = make_install(caps=None)
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls) == []  # only the project itself: pip install -e
    assert calls == ["install -q -e .[test,ray,lint]"]
    assert "torch 2.13.0+cpu (CPU) works" in proc.stderr


@pytest.mark.slow
def test_make_demo_installs_only_what_running_lbtui_needs(make_install) -> None:
    """``make demo`` installs lbtui and torch, not the test, Ray or lint extras;
    ``make install`` (make test, make lint) adds them afterwards."""
    proc, calls = make_install(caps=None, target="install-base")
    assert proc.returncode == 0, proc.stderr
    assert calls == ["install -q -e ."]
    proc, calls = make_install(caps=None, target="install")
    assert proc.returncode == 0, proc.stderr
    assert calls == ["install -q -e .", "install -q -e .[test,ray,lint]"]



def test_make_demo_depends_on_the_base_install_only(tmp_path) -> None:
    """What ``make demo`` would run in a fresh checkout (``make -n``: nothing runs)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    demo = subprocess.run(["make", "-n", "demo", f"VENV={tmp_path / 'venv'}", "PIP=pip-stub"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert demo.returncode == 0, demo.stderr
    installs = [line for line in demo.stdout.splitlines() if line.startswith("pip-stub install")]
    assert installs == ["pip-stub install -q -e ."]
    assert "lbtui run --task virnucpro" in demo.stdout
