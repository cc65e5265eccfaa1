"""Jobs on a real Slurm: the testbed that ``scripts/slurm_testbed.sh up`` sets up on
this machine (cluster ``lbtui-testbed``), or any Slurm with ``LBTUI_SLURM_TESTS=1``.
Without one every test here is skipped, saying why.

Inputs and run folders live under pytest's tmp_path (the jobs run on this node).
Each job's log is ``job.log`` beside them; a job still queued or running at the
end of a test is cancelled.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBATCH_EXAMPLE = REPO / "examples" / "slurm" / "lbtui.sbatch"
JOB_TIMEOUT_S = 420  # the longest a job may take to reach the state a test waits for
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL")


def no_slurm() -> str | None:
    """Why the Slurm tests cannot run here, or None."""
    if shutil.which("sbatch") is None:
        return "no sbatch here (scripts/slurm_testbed.sh up sets up a one-node Slurm)"
    if os.environ.get("LBTUI_SLURM_TESTS") == "1":
        return None
    try:
        config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"scontrol does not answer ({exc})"
    if not re.search(r"(?m)^ClusterName\s*=\s*lbtui-testbed\s*$", config):
        return "this Slurm is not the lbtui testbed (LBTUI_SLURM_TESTS=1 submits the tests' jobs to it)"
    return None


def lbtui_command() -> str:
    """The lbtui the jobs run: the one beside this Python (the venv), else PATH's."""
    beside = Path(sys.executable).parent / "lbtui"
    return str(beside) if beside.exists() else (shutil.which("lbtui") or "lbtui")


def fields(text: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S*)", text))


@dataclass
class Job:
    id: str
    log: Path

    def info(self) -> dict[str, str]:
        """``scontrol show job``'s fields (JobState, ExitCode, Restarts, ...): the same
        record sacct reports State and ExitCode from."""
        out = subprocess.run(["scontrol", "-o", "show", "job", self.id], capture_output=True, text=True,
                             timeout=30).stdout
        return fields(out)

    def wait(self, done, what: str, timeout: float = JOB_TIMEOUT_S) -> dict[str, str]:
        """Poll until ``done(info)``; the job's log and record in the failure message."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.info()
            if done(info):
                return info
            if time.monotonic() > deadline:
                pytest.fail(f"job {self.id}: {what} not within {timeout} s; JobState={info.get('JobState')}\n"
                            f"{self.text()}")
            time.sleep(1.0)

    def requeued(self) -> None:
        """Once Slurm has put the job back in the queue, let it start again now: a
        requeued job waits about two minutes (Reason=BeginTime) before it may run."""
        self.wait(lambda i: i.get("JobState") == "PENDING", "the job back in the queue")
        subprocess.run(["scontrol", "update", f"JobId={self.id}", "StartTime=now"], check=True, timeout=30)

    def ended(self, timeout: float = JOB_TIMEOUT_S) -> dict[str, str]:
        return self.wait(lambda i: i.get("JobState") in ENDED, "the end", timeout)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log yet)"


class Slurm:
    """Submits jobs for one test and cancels whatever it left behind."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.jobs: list[Job] = []
        self.env = {**os.environ, "LBTUI": lbtui_command()}

    def sbatch(self, script: Path, *args: str, options: tuple[str, ...] = (), log: str = "job.log") -> Job:
        path = self.tmp_path / log
        out = subprocess.run(["sbatch", "--parsable", f"--chdir={self.tmp_path}", f"--output={path}", *options,
                              str(script), *args], capture_output=True, text=True, env=self.env, timeout=60)
        assert out.returncode == 0, out.stderr
        job = Job(out.stdout.strip().split(";")[0], path)
        self.jobs.append(job)
        return job

    def close(self) -> None:
        for job in self.jobs:
            subprocess.run(["scancel", job.id], capture_output=True, timeout=30)


@pytest.fixture
def slurm(tmp_path: Path):
    reason = no_slurm()
    if reason is not None:
        pytest.skip(reason)
    s = Slurm(tmp_path)
    yield s
    s.close()


def pytest_collection_modifyitems(config, items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.slurm)
