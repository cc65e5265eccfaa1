"""GPU workers bound to their own device, in real worker processes: a fake NVML
node (tests/helpers/fake_nvml) and a fake CUDA torch (tests/helpers/fake_cuda_torch)
stand in for the GPUs. Each worker must get CUDA_VISIBLE_DEVICES=<its UUID>
and cuda:0, whatever CUDA_DEVICE_ORDER and the scheduler's numbering say."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.nvml_node import FAKE_DIR, GIB, gpu, mig, subprocess_env

from .conftest import REPO, RUN_TIMEOUT_S, Result, assert_each_unit_once, env_with, lbtui_args, make_inputs

FAKE_TORCH = Path(__file__).resolve().parents[1] / "helpers" / "fake_cuda_torch"
FAST = ("--sim-rate", "40000")
TASK = ("--task", "tests.helpers.tasks:BindingTask")


def run(tmp_path: Path, node: dict, *args: str, env: dict | None = None, cpus: set[int] | None = None) -> Result:
    """``lbtui run --headless`` on ``node``, with this process's CPUs limited to ``cpus``."""
    full = {**subprocess_env(tmp_path, node), "LBTUI_TEST_STATE": str(tmp_path / "state"), **(env or {})}
    full["PYTHONPATH"] = f"{FAKE_DIR}{os.pathsep}{FAKE_TORCH}"
    inputs = make_inputs(tmp_path / "in", 4, seqs=8)
    out = tmp_path / "out"
    proc = subprocess.run(lbtui_args(inputs, out, *FAST, *args), cwd=REPO, env=env_with(full),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    return Result(proc.returncode, proc.stdout, proc.stderr, out)


def bound(tmp_path: Path) -> list[dict]:
    files = sorted((tmp_path / "state").glob("bound-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return [json.loads(p.read_text()) for p in files]


def finished(res: Result) -> None:
    assert res.code == 0, res.stdout + res.stderr
    assert_each_unit_once(res.manifest(), {(f"f{i:02d}.fa", 0) for i in range(4)})


# PCI order: an L4, then two H100s. CUDA's FASTEST_FIRST lists the H100s first.
MIXED = {"gpus": [gpu("NVIDIA L4", "GPU-l4", total=24 * GIB) | {"fast": 1},
                  gpu("NVIDIA H100 80GB HBM3", "GPU-h100a") | {"fast": 3},
                  gpu("NVIDIA H100 80GB HBM3", "GPU-h100b") | {"fast": 3}]}


@pytest.mark.slow
def test_fastest_first_binds_each_worker_to_the_gpu_cuda_calls_that_index(tmp_path: Path) -> None:
    # --gpus 0,2 under FASTEST_FIRST: CUDA's 0 is the first H100 and 2 the L4 (NVML's 0)
    res = run(tmp_path, MIXED, "--gpus", "0,2", *TASK, env={"CUDA_DEVICE_ORDER": "FASTEST_FIRST"})
    finished(res)
    got = bound(tmp_path)
    assert [b["env"]["CUDA_VISIBLE_DEVICES"] for b in got] == ["GPU-h100a", "GPU-l4"]
    assert {(b["ordinal"], b["torch_device"]) for b in got} == {(0, "cuda:0")}
    run_json = json.loads((res.out / "run.json").read_text())
    assert [d["device"] for d in run_json["devices"]] == ["NVIDIA H100 80GB HBM3", "NVIDIA L4"]
    assert "CUDA_DEVICE_ORDER=FASTEST_FIRST on a node of mixed GPU models" in res.stderr


@pytest.mark.slow
def test_slurm_numbering_binds_the_jobs_gpus_and_threads_follow_the_affinity(tmp_path: Path) -> None:
    # Slurm gave the job GPUs 2 and 3 of four (CUDA_VISIBLE_DEVICES=2,3) and one CPU.
    node = {"gpus": [gpu("NVIDIA A100-SXM4-80GB", f"GPU-n{i}") for i in range(4)]}
    res = run(tmp_path, node, "--gpus", "all", *TASK, env={"CUDA_VISIBLE_DEVICES": "2,3"}, cpus={0})
    finished(res)
    got = bound(tmp_path)
    assert [b["env"]["CUDA_VISIBLE_DEVICES"] for b in got] == ["GPU-n2", "GPU-n3"]
    assert {b["env"]["PYTORCH_CUDA_ALLOC_CONF"] for b in got} == {"expandable_segments:True"}
    # one usable CPU for two workers: one thread each, whatever os.cpu_count() says
    assert [(b["threads"], b["env"]["OMP_NUM_THREADS"]) for b in got] == [(1, "1")] * 2


@pytest.mark.slow
def test_a_worker_has_the_cpus_it_may_use_not_the_machines(tmp_path: Path) -> None:
    node = {"gpus": [gpu("NVIDIA L4", "GPU-l4")]}
    cpus = {0} if (os.cpu_count() or 1) > 1 else None
    res = run(tmp_path, node, "--gpus", "all", *TASK, cpus=cpus,
              env={"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:64"})
    finished(res)
    (only,) = bound(tmp_path)  # the only worker: it ran every unit
    assert only["torch_threads"] == only["threads"] == int(only["env"]["OMP_NUM_THREADS"]) == len(cpus or {0})
    assert only["env"]["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:64"  # the user's setting stays


@pytest.mark.slow
def test_each_mig_instance_gets_a_worker_of_its_own(tmp_path: Path) -> None:
    node = {"gpus": [gpu("NVIDIA A100-SXM4-40GB", "GPU-aaaa", mig=[
        mig("NVIDIA A100-SXM4-40GB MIG 3g.20gb", "MIG-1111", gi=1),
        mig("NVIDIA A100-SXM4-40GB MIG 2g.10gb", "MIG-2222", gi=5),
        mig("NVIDIA A100-SXM4-40GB MIG 1g.5gb", "MIG-3333", gi=13)])]}
    res = run(tmp_path, node, "--gpus", "all", *TASK,
              env={"CUDA_VISIBLE_DEVICES": "MIG-1111,MIG-2222,MIG-3333"})
    finished(res)
    # each worker set up on its own instance (CUDA would have shown one process only the first)
    assert [b["env"]["CUDA_VISIBLE_DEVICES"] for b in bound(tmp_path)] == ["MIG-1111", "MIG-2222", "MIG-3333"]


@pytest.mark.slow
def test_a_worker_on_another_gpu_than_it_was_given_fails_setup_naming_both(tmp_path: Path) -> None:
    node = {"gpus": [gpu("NVIDIA L4", "GPU-l4")]}
    res = run(tmp_path, node, "--gpus", "all", *TASK, env={"LBTUI_FAKE_TORCH_UUID": "ffff-0000"})
    assert res.code == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("lbtui: error:")]
    assert errors == ["lbtui: error: setup failed on every device: BindingError: GPU0 was given GPU-l4 but "
                      "torch's cuda:0 is ffff-0000 (CUDA_VISIBLE_DEVICES='GPU-l4')"]
