"""Device health with real worker processes: a bad device never sinks the run,
no device starting ends it at once, and GPUs on a fake NVML node (Slurm-style
CUDA_VISIBLE_DEVICES, a restart that waits for freed memory)."""

from __future__ import annotations

import json
import re

from tests.helpers.nvml_node import GIB, gpu, subprocess_env

from .conftest import assert_each_unit_once, make_inputs

FAST = ("--sim-rate", "40000")  # 8 seqs x 250 residues: 0.05 s per unit


def test_an_always_failing_device_is_retired_while_every_unit_finishes_elsewhere(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 36, seqs=8)
    res = run_lbtui(inputs, "--gpus", "cpu:3", "--sim-rate", "20000", "--retries", "0",  # 0.1 s per unit
                    "--task", "tests.helpers.tasks:BadDeviceTask",
                    env={"LBTUI_TEST_DEVICES": "0", "LBTUI_TEST_STATE": str(tmp_path / "state")})
    assert res.code == 0, res.stdout + res.stderr
    assert_each_unit_once(res.manifest(), {(f"f{i:02d}.fa", 0) for i in range(36)})
    assert {r["device_index"] for r in res.manifest()} <= {1, 2}
    summary = res.summary()
    assert summary["files_failed"] == 0
    bad = summary["devices"][0]
    assert bad["final_state"] == "dead"
    assert re.fullmatch(r"retired: \d+ units in a row failed on it.*", bad["reason"]), bad["reason"]
    assert re.search(r"death +CPU0 retired: ", res.stdout), res.stdout
    failed_there = len(list((tmp_path / "state").glob("*")))
    assert 3 <= failed_there <= 36  # each unit failed there at most once (never sent back)


def test_every_device_failing_setup_alike_stops_at_once_with_one_line(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, "--gpus", "cpu:2", *FAST, "--task", "tests.helpers.tasks:SetupFailTask",
                    env={"LBTUI_TEST_DEVICES": "0,1"})
    assert res.code == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("lbtui: error:")]
    assert errors == ["lbtui: error: setup failed on every device: MemoryError: injected: "
                      "model does not fit on this device"]
    assert "Traceback" not in res.stderr
    summary = res.summary()
    assert summary["files_failed"] == 0 and summary["files_done"] == 0 and summary["exit_code"] == 2


SLURM_NODE = {"gpus": [gpu("NVIDIA A100-SXM4-80GB", "GPU-node0", refused=True),
                       gpu("NVIDIA H100 80GB HBM3", "GPU-node1"),
                       gpu("NVIDIA L4", "GPU-node2", total=24 * GIB),
                       gpu("NVIDIA A100-SXM4-80GB", "GPU-node3", refused=True)]}


def test_a_slurm_job_runs_on_its_own_gpus(tmp_path, run_lbtui) -> None:
    # The job holds the node's GPUs 1 and 2, renumbered 0,1; NVML refuses 0 and 3.
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    env = {**subprocess_env(tmp_path, SLURM_NODE), "CUDA_VISIBLE_DEVICES": "0,1"}
    res = run_lbtui(inputs, "--gpus", "auto", "--task", "sim", *FAST, env=env)
    assert res.code == 0, res.stdout + res.stderr
    run = json.loads((res.out / "run.json").read_text())
    assert [(d["kind"], d["device"], d["weight"]) for d in run["devices"]] == [
        ("cuda", "NVIDIA H100 80GB HBM3", 2.5), ("cuda", "NVIDIA L4", 0.55)]
    assert [d["source"] for d in res.summary()["devices"]] == ["nvml", "nvml"]
    assert "NVML may not open GPU 0,3 of the node's 4" in res.stdout
    assert_each_unit_once(res.manifest(), {(f"f{i:02d}.fa", 0) for i in range(6)})


def test_a_stall_restart_waits_for_the_memory_and_retries_setup_once(tmp_path, run_lbtui) -> None:
    # One GPU, so the run cannot end before its restarted worker is up: the
    # stalled unit comes back to it once it is set up again.
    inputs = make_inputs(tmp_path / "in", 4, seqs=8)
    node = {"gpus": [gpu("NVIDIA L4", "GPU-l4", total=24 * GIB)]}
    state = tmp_path / "state"
    env = {**subprocess_env(tmp_path, node), "LBTUI_TEST_UNIT": "f00.fa", "LBTUI_TEST_STATE": str(state),
           "LBTUI_TEST_HOLD_S": "3.0"}  # longer than a respawn takes
    res = run_lbtui(inputs, "--gpus", "all", "--task", "tests.helpers.tasks:RestartTask", *FAST,
                    "--stall-timeout", "0.5", env=env)
    assert res.code == 0, res.stdout + res.stderr
    assert re.search(r"death +GPU0 restarted: no progress for 0\.5 s on f00\.fa", res.stdout), res.stdout
    assert re.search(r"GPU0 setup failed after a restart: RuntimeError: injected: setup failed "
                     r"after the restart; trying once more", res.stdout), res.stdout
    held_until = float((tmp_path / "holds" / "GPU-l4").read_text())
    setups = sorted(state.glob("setup-0.*"))
    assert [p.name for p in setups] == ["setup-0.1", "setup-0.2", "setup-0.3"]
    assert float(setups[1].read_text()) >= held_until  # the restarted worker set up only once the memory was free
    summary = res.summary()
    assert summary["devices"][0]["final_state"] == "done" and summary["devices"][0]["restarts"] == 1
    rows = res.manifest()
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(4)})
    assert {r["file"]: r["attempt"] for r in rows}["f00.fa"] == 2


def test_a_device_raising_cuda_errors_is_restarted_and_costs_no_unit_a_retry(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 12, seqs=8)
    res = run_lbtui(inputs, "--gpus", "cpu:3", "--sim-rate", "10000", "--retries", "0",  # 0.2 s per unit
                    "--task", "tests.helpers.tasks:BadDeviceTask",
                    env={"LBTUI_TEST_DEVICES": "0", "LBTUI_TEST_CUDA_ERROR": "1",
                         "LBTUI_TEST_STATE": str(tmp_path / "state")})
    assert res.code == 0, res.stdout + res.stderr  # --retries 0, yet no unit failed: the errors were the device's
    assert re.search(r"death +CPU0 restarted: device error: RuntimeError: CUDA error: an illegal memory "
                     r"access was encountered", res.stdout), res.stdout
    assert_each_unit_once(res.manifest(), {(f"f{i:02d}.fa", 0) for i in range(12)})
    assert {r["device_index"] for r in res.manifest()} <= {1, 2}
    summary = res.summary()
    assert summary["files_failed"] == 0 and summary["devices"][0]["fault_restarts"] >= 1
