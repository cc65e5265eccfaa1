"""The torch install: which build, replacing a CPU torch on a GPU machine, and the
check after it. No download ever happens: ``make install PIP=stub`` logs what it
would run, and a stub ``nvidia-smi`` plays the GPUs and the driver."""

from __future__ import annotations

import importlib.util
import os
import shutil
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


PYPI = "pip's configured index"
PT = "https://download.pytorch.org/whl/"


def sources(p) -> list[str]:
    return [s.describe() for s in p.sources]


@pytest.mark.parametrize(
    ("installed", "works", "driver", "caps", "expected"),
    [
        ("absent", False, "", "", "install cpu - torch==2.13.0+cpu"),  # a fresh CPU machine (CI)
        (CPU_TORCH, False, "", "", "keep cpu -"),
        ("2.11.0+cpu cpu", False, "", "", "keep cpu -"),  # older than TORCH_VERSION, not than TORCH_MIN
        ("2.4.1+cpu cpu", False, "", "", "install cpu - torch==2.13.0+cpu"),  # older than TORCH_MIN
        ("2.13.0+cu126 12.6", False, "", "", "keep cuda-build -"),  # a login node that installed a CUDA build
        (CPU_TORCH, False, "13.0", "9.0", "install cuda 13.0 torch==2.13.0 torch==2.13.0+cu130"),  # H100
        (CPU_TORCH, False, "13.2", "7.5,8.6,12.0", "install cuda 13.0 torch==2.13.0 torch==2.13.0+cu130"),
        (CPU_TORCH, False, "12.8", "8.0", "install cuda 12.6 torch==2.13.0+cu126"),  # driver 570: CUDA 12 only
        (CPU_TORCH, False, "13.0", "7.0,8.0", "install cuda 12.6 torch==2.13.0+cu126"),  # V100: no sm70 in cu130
        (CPU_TORCH, False, "12.2", "6.0", "install cuda 12.6 torch==2.13.0+cu126"),  # P100 on driver 535
        ("2.13.0+cu130 13.0", True, "13.0", "9.0", "keep cuda -"),
        ("2.11.0 13.0", True, "13.0", "9.0", "keep cuda -"),  # the GPU image's own torch, working: kept
        ("2.13.0+cu126 12.6", True, "13.0", "9.0", "keep cuda -"),  # runs here: no reason to replace it
        ("2.13.0+cu130 13.0", False, "13.0", "7.0", "install cuda 12.6 torch==2.13.0+cu126"),  # cannot run here
        ("2.4.0+cu124 12.4", True, "13.0", "9.0", "install cuda 13.0 torch==2.13.0 torch==2.13.0+cu130"),
    ],
)
def test_plan_keeps_what_works_and_picks_the_build_for_the_driver(installed: str, works: bool, driver: str,
                                                                  caps: str, expected: str) -> None:
    assert tw.plan("2.13.0", installed, minimum="2.5", works=works, driver_cuda=driver,
                   caps=caps).render() == expected


def test_pypi_first_then_pytorchs_index_as_an_extra_one() -> None:
    p = tw.plan("2.13.0", CPU_TORCH, minimum="2.5", driver_cuda="13.0", caps="9.0")
    assert sources(p) == [f"torch==2.13.0 ({PYPI})", f"torch==2.13.0+cu130 (--extra-index-url {PT}cu130)"]
    assert [s.cuda for s in p.sources] == ["13.0", "13.0"]  # PyPI's wheel must be the CUDA 13.0 build
    p = tw.plan("2.13.0", CPU_TORCH, minimum="2.5", driver_cuda="12.8", caps="8.0")
    assert sources(p) == [f"torch==2.13.0+cu126 (--extra-index-url {PT}cu126)"]
    p = tw.plan("2.13.0", "absent", minimum="2.5")
    assert [(s.describe(), s.cuda) for s in p.sources] == [(f"torch==2.13.0+cpu (--extra-index-url {PT}cpu)", "")]


@pytest.mark.parametrize(
    ("build", "installed", "caps", "expected"),
    [
        ("cu126", CPU_TORCH, "", "install cuda-build 12.6 torch==2.13.0+cu126"),  # a login node without GPUs
        ("cu130", CPU_TORCH, "", "install cuda-build 13.0 torch==2.13.0 torch==2.13.0+cu130"),
        ("cu128", CPU_TORCH, "", "install cuda-build 12.8 torch==2.13.0+cu128"),
        ("cu126", "2.13.0+cu126 12.6", "", "keep cuda-build 12.6"),
        ("cu126", "2.13.0+cu130 13.0", "", "install cuda-build 12.6 torch==2.13.0+cu126"),
        ("cpu", "2.13.0+cu130 13.0", "9.0", "install cpu - torch==2.13.0+cpu"),  # a GPU machine that wants CPU
        ("cpu", CPU_TORCH, "9.0", "keep cpu -"),
    ],
)
def test_torch_build_chooses_the_build(build: str, installed: str, caps: str, expected: str) -> None:
    assert tw.plan("2.13.0", installed, minimum="2.5", build=build, caps=caps, driver_cuda="13.0" if caps else "",
                   works=True).render() == expected


def test_torch_index_takes_torch_from_that_index_only() -> None:
    p = tw.plan("2.13.0", CPU_TORCH, minimum="2.5", index=f"{CU}126")
    assert p.render() == "install cuda-build 12.6 torch==2.13.0+cu126"
    assert sources(p) == [f"torch==2.13.0+cu126 (--index-url {CU}126)"]
    assert tw.plan("2.13.0", "2.13.0+cu126 12.6", minimum="2.5", index=f"{CU}126/").render() == "keep cuda-build 12.6"
    # a mirror: no local version label to pin, the check afterwards says what came
    p = tw.plan("2.13.0", CPU_TORCH, index="https://mirror.example/torch", driver_cuda="13.0", caps="9.0")
    assert p.render() == "install cuda - torch==2.13.0" and p.sources[0].cuda is None


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


def test_another_release_needs_its_build_table_or_a_chosen_build() -> None:
    with pytest.raises(tw.Refusal, match="no CUDA build table for torch 2.20.0: choose a build with TORCH_BUILD"):
        tw.plan("2.20.0", CPU_TORCH, driver_cuda="13.0", caps="9.0")
    assert tw.plan("2.20.0", CPU_TORCH, driver_cuda="14.0", caps="9.0", builds_override="cu140:14.0:8.0:12.0"
                   ).render() == "install cuda 14.0 torch==2.20.0 torch==2.20.0+cu140"
    assert tw.plan("2.20.0", CPU_TORCH, build="cu140").render() == "install cuda-build 14.0 torch==2.20.0+cu140"


def test_a_bad_torch_build_is_refused() -> None:
    assert tw.main(["plan", "--version", "2.13.0", "--installed", "absent", "--build", "cuda12"]) == 1


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
    import torch  # noqa: F401 - the real one, so that monkeypatch puts it back after the stand-in

    monkeypatch.delitem(sys.modules, "torch")


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
    with the stub pip; returns (result, the pip calls, the download folder)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    site = tmp_path / "site"
    site.mkdir()
    log = tmp_path / "pip.log"
    folder = str(venv / ".torch-download")

    def run(*, caps: str | None, cuda: str = "13.0", installed: str | None = None, target: str = "install",
            **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        if installed is not None:  # a torch already in the venv: the fake one, of this build
            shutil.copytree(HERE / "fake_torch" / "torch", site / "torch")
            (site / "torch" / "build.txt").write_text(installed)
        path = os.environ["PATH"] if caps is None else f"{HERE / 'stubs'}:{os.environ['PATH']}"
        full = {k: v for k, v in os.environ.items() if k not in ("TORCH_INDEX", "TORCH_BUILD", "MAKEFLAGS", "MFLAGS")}
        full.update(PATH=path, PIP_LOG=str(log), FAKE_SITE=str(site), PYTHONPATH=str(site),
                    STUB_CAPS=caps or "", STUB_CUDA=cuda, **env)
        proc = subprocess.run(["make", "-s", target, f"VENV={venv}", f"PIP={HERE / 'stubs' / 'pip'}"],
                              cwd=REPO, env=full, capture_output=True, text=True, timeout=300)
        calls = log.read_text().replace(folder, "DIR").splitlines() if log.exists() else []
        return proc, calls

    return run


def torch_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if "-e" not in c.split()]


def download(requirement: str, *index: str) -> str:
    return " ".join(["download --dest DIR --timeout 10 --retries 1 --progress-bar off", requirement, *index])


def install(wheel: str) -> str:
    return f"install -q --no-index --find-links DIR DIR/{wheel}"


WHEEL = "torch-2.13.0{}-cp311-cp311-manylinux_2_28_x86_64.whl"


def one_error(proc: subprocess.CompletedProcess) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("install_torch: error")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.mark.slow
def test_make_install_downloads_pypis_cuda_build_then_replaces_a_cpu_torch(make_install) -> None:
    proc, calls = make_install(caps="9.0,9.0", cuda="13.0")
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls) == [download("torch==2.13.0"),  # PyPI first: its wheel is the CUDA 13.0 build
                                  "uninstall -q -y torch",  # only once it is on disk
                                  install(WHEEL.format(""))]
    assert f"install_torch: replacing torch 2.13.0+cpu (cpu) with {WHEEL.format('')}" in proc.stderr
    assert "torch 2.13.0 (CUDA 13.0) works on 2 GPU(s)" in proc.stderr


@pytest.mark.slow
def test_make_install_refuses_a_cpu_wheel_from_the_configured_index(make_install) -> None:
    proc, calls = make_install(caps="9.0", STUB_DEFAULT_CUDA="cpu")  # pip's find-links holds a CPU wheel
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls) == [download("torch==2.13.0"),
                                  download("torch==2.13.0+cu130", "--extra-index-url", f"{CU}130"),
                                  "uninstall -q -y torch", install(WHEEL.format("+cu130"))]


@pytest.mark.slow
def test_make_install_gives_a_v100_the_cuda_12_build_from_pytorchs_index(make_install) -> None:
    proc, calls = make_install(caps="7.0", cuda="13.0")
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls)[0] == download("torch==2.13.0+cu126", "--extra-index-url", f"{CU}126")
    assert torch_calls(calls)[-1] == install(WHEEL.format("+cu126"))


@pytest.mark.slow
def test_make_install_keeps_a_working_cuda_torch_of_another_release(make_install) -> None:
    proc, calls = make_install(caps="9.0", installed="2.11.0 13.0")  # the GPU image's own torch
    assert proc.returncode == 0, proc.stderr
    assert calls == ["install -q -e .[test,ray,lint]"]  # nothing downloaded, nothing removed
    assert "torch 2.11.0 (CUDA 13.0) works on 1 GPU(s)" in proc.stderr


@pytest.mark.slow
def test_make_install_offline_fails_in_one_line_and_removes_nothing(make_install) -> None:
    proc, calls = make_install(caps="9.0", STUB_OFFLINE="1")
    assert proc.returncode != 0
    assert torch_calls(calls) == [download("torch==2.13.0"),
                                  download("torch==2.13.0+cu130", "--extra-index-url", f"{CU}130")]
    error = one_error(proc)
    assert error.startswith("install_torch: error: could not download torch: torch==2.13.0 (pip's configured "
                            "index): ERROR: Could not find a version that satisfies the requirement torch")
    assert "Without internet: run the same make install where there is (a login node: make install " in error


@pytest.mark.slow
def test_make_install_refuses_in_one_line_when_no_build_fits(make_install) -> None:
    proc, calls = make_install(caps="12.0", cuda="12.4")  # Blackwell on a CUDA 12 driver
    assert proc.returncode != 0
    assert one_error(proc).startswith(
        "install_torch: error: the NVIDIA driver supports CUDA 12.4; torch 2.13.0 for these GPUs needs CUDA 13.0")
    assert calls == []  # nothing installed, nothing removed


@pytest.mark.slow
def test_make_install_fails_in_one_line_when_the_build_cannot_run(make_install) -> None:
    proc, calls = make_install(caps="7.0", TORCH_INDEX=f"{CU}130", FAKE_TORCH_BROKEN="1")  # forced: no sm70
    assert proc.returncode != 0
    assert torch_calls(calls)[0] == download("torch==2.13.0+cu130", "--index-url", f"{CU}130")
    assert one_error(proc) == ("install_torch: error: torch 2.13.0+cu130 cannot run on cuda:0 (Stub GPU sm7.0, "
                               "compute capability 7.0): CUDA error: no kernel image is available for execution "
                               "on the device")


@pytest.mark.slow
def test_make_install_torch_build_on_a_login_node_without_gpus(make_install) -> None:
    proc, calls = make_install(caps=None, TORCH_BUILD="cu126")
    assert proc.returncode == 0, proc.stderr
    assert torch_calls(calls) == [download("torch==2.13.0+cu126", "--extra-index-url", f"{CU}126"),
                                  "uninstall -q -y torch", install(WHEEL.format("+cu126"))]
    assert "torch 2.13.0+cu126 (CUDA 12.6) installed; no GPU here to try it on" in proc.stderr


@pytest.mark.slow
def test_make_install_keeps_a_cpu_torch_without_a_gpu(make_install) -> None:
    proc, calls = make_install(caps=None)
    assert proc.returncode == 0, proc.stderr
    assert calls == ["install -q -e .[test,ray,lint]"]  # only the project itself
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


@pytest.mark.slow
def test_an_unreachable_index_fails_with_the_real_pip_and_nothing_removed(tmp_path: Path) -> None:
    """The real pip's download, against indices where nothing listens (not the network's
    timeout: what --timeout/--retries bound is shown by the stub's command line above)."""
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    pip = venv / "pip"  # the real pip downloads; anything else would touch this test's own venv: refused
    pip.write_text(f"#!/bin/sh\necho \"$*\" >>{tmp_path}/pip.log\n"
                   f"[ \"$1\" = download ] && exec {sys.executable} -m pip \"$@\"\nexit 9\n")
    for f in (venv / "python", pip):
        f.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TORCH_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple", TORCH_VERSION="2.13.0",
               TORCH_BUILD="cu126", TORCH_PYTORCH_INDEX="http://127.0.0.1:9/whl", PATH=os.environ["PATH"])
    proc = subprocess.run([str(REPO / "scripts" / "install_torch.sh"), str(pip), str(venv / "python")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert one_error(proc).startswith("install_torch: error: could not download torch: torch==2.13.0+cu126 "
                                      "(--extra-index-url http://127.0.0.1:9/whl/cu126): ERROR: ")
    calls = (tmp_path / "pip.log").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["download"]  # nothing uninstalled
