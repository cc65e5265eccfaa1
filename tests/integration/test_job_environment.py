"""Where a run is: run.json names its host and Slurm job; ``--gpus auto`` inside a GPU
allocation without a usable CUDA is an error, and a CPU fallback anywhere else is said
on stdout, in events.jsonl and in summary.json's notices."""

from __future__ import annotations

import json
import socket

import pytest

from virnucpro_bridge.hardware import discovery

from .conftest import make_inputs
from .test_bad_input import assert_usage_error, lbtui_raw

pytestmark = pytest.mark.slow
no_cuda_only = pytest.mark.skipif(bool(discovery.cuda_devices()), reason="this machine has CUDA devices")
GPU_VARS = {"CUDA_VISIBLE_DEVICES": "", "SLURM_JOB_GPUS": "", "SLURM_STEP_GPUS": ""}  # none handed out


@no_cuda_only
def test_gpus_auto_in_a_gpu_allocation_without_cuda_exits_2(tmp_path, monkeypatch) -> None:
    inputs = make_inputs(tmp_path / "in", 1, seqs=2)
    out = tmp_path / "out"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # as Slurm sets it for --gres=gpu:2
    proc = lbtui_raw(["--gpus", "auto", "--task", "sim", "--out", str(out), str(inputs)])
    assert_usage_error(proc, out, "--gpus auto", "CUDA_VISIBLE_DEVICES=0,1", "--gpus cpu:N")


@no_cuda_only
def test_a_cpu_fallback_is_announced_and_run_json_says_where(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 2, seqs=4)
    res = run_lbtui(inputs, "--gpus", "auto", "--task", "sim", "--sim-rate", "100000",
                    env={**GPU_VARS, "SLURM_JOB_ID": "4711", "PATH": "/usr/bin:/bin"})
    assert res.code == 0, res.stderr
    fallback = "no CUDA device found: running on 2 CPU workers"
    assert fallback in res.stdout  # the event, and the closing notice
    summary = res.summary()
    assert any(n.startswith(fallback) for n in summary["notices"])
    events = [json.loads(line) for line in (res.out / "events.jsonl").read_text().splitlines()]
    assert any(fallback in e["message"] for e in events)
    run = json.loads((res.out / "run.json").read_text())
    assert run["host"] == socket.gethostname()
    assert run["slurm_job"] == "4711"
