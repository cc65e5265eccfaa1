"""Slurm: the job's id, the GPUs it was lent, KillWait for --grace, and a batch
script that does not ``exec`` lbtui. No Slurm needed: a fake ``scontrol`` on PATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from virnucpro_bridge.errors import UsageError
from virnucpro_bridge.hardware import devices, slurm
from virnucpro_bridge.hardware.devices import select_gpus

GPU_VARS = ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS")
JOB_VARS = ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_TASK_PID")


@pytest.fixture(autouse=True)
def no_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GPU_VARS + JOB_VARS:
        monkeypatch.delenv(name, raising=False)


def fake_scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "scontrol"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_job_id_outside_and_inside_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    assert slurm.job_id() is None
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    assert slurm.job_id() == "4711"


@pytest.mark.parametrize(("name", "value", "allocated"), [
    ("CUDA_VISIBLE_DEVICES", "0,1", "CUDA_VISIBLE_DEVICES=0,1"),
    ("SLURM_JOB_GPUS", "2,3", "SLURM_JOB_GPUS=2,3"),
    ("CUDA_VISIBLE_DEVICES", "", None),  # hidden on purpose: no GPU wanted
    ("CUDA_VISIBLE_DEVICES", "-1", None),
    ("CUDA_VISIBLE_DEVICES", "NoDevFiles", None),  # Slurm's value for a job without GPUs
])
def test_gpus_allocated(monkeypatch: pytest.MonkeyPatch, name: str, value: str, allocated: str | None) -> None:
    monkeypatch.setenv(name, value)
    assert slurm.gpus_allocated() == allocated


def test_auto_in_a_gpu_allocation_without_cuda_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(devices, "nvidia_driver_present", lambda: False)
    with pytest.raises(UsageError) as err:
        select_gpus("auto", [])
    message = str(err.value)
    assert "\n" not in message
    assert "CUDA_VISIBLE_DEVICES=0,1" in message and "no NVIDIA driver" in message and "--gpus cpu:N" in message


def test_auto_without_an_allocation_falls_back_to_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    got, found = select_gpus("auto", [])
    assert [d.kind for d in got] == ["cpu", "cpu"] and found is not None and not found.devices


@pytest.mark.parametrize(("requested", "killwait", "grace", "note", "warning"), [
    (None, None, 20.0, False, False),  # not under Slurm: the default
    (7.0, None, 7.0, False, False),
    (None, 30.0, 20.0, True, False),  # Slurm's default KillWait
    (None, 120.0, 110.0, True, False),
    (None, 10.0, 5.0, True, False),  # a short KillWait: half of it
    (60.0, 30.0, 60.0, False, True),  # as asked, with a warning that Slurm will not wait that long
    (15.0, 30.0, 15.0, False, False),
])
def test_choose_grace(requested, killwait, grace, note, warning) -> None:
    got, why, warn = slurm.choose_grace(requested, killwait)
    assert got == grace
    assert (why is not None, warn is not None) == (note, warning)


def test_kill_wait_reads_scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_scontrol(tmp_path, monkeypatch, 'echo "JobRequeue              = 1"; echo "KillWait                = 45 sec"')
    assert slurm.kill_wait() is None  # not in a job: scontrol is not asked
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    assert slurm.kill_wait() == 45.0


@pytest.mark.parametrize("body", ["exit 1", "echo nothing useful", "exec sleep 60"],
                         ids=["fails", "no KillWait", "hangs"])
def test_kill_wait_is_none_when_scontrol_cannot_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     body: str) -> None:
    fake_scontrol(tmp_path, monkeypatch, body)
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    assert slurm.kill_wait(timeout=0.5) is None


def test_kill_wait_without_scontrol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert slurm.kill_wait() is None


def test_batch_child(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not slurm.batch_child()  # not a job
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    monkeypatch.setenv("SLURM_TASK_PID", str(os.getpid()))
    assert not slurm.batch_child()  # `exec lbtui`: we are the batch script's process
    monkeypatch.setenv("SLURM_TASK_PID", str(os.getppid()))
    assert slurm.batch_child()  # the script's child
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert not slurm.batch_child()  # an srun step: Slurm signals every process in it
