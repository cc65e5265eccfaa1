"""lbtui under a real Slurm, the ways its users run it: requeue mid-run, the time limit
with --signal, preemption, a plain (non-``exec``) batch script, and srun. Each story
ends with every record done exactly once and a closing line in the job's output; a
graceful stop keeps the finished part of each unit in flight (fewer records are
redone than were in flight).

Units are whole files of 40 records at 1 s a record (--sim-rate 250, 250-residue
records) on two simulated GPUs, so a stop always finds units in flight that are
longer than the default --grace (20 s under the testbed's KillWait of 30 s): only
cutting them at a record keeps their work.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.integration.conftest import make_inputs, read_manifest, span_of

from .conftest import SBATCH_EXAMPLE, Job, lbtui_command

RECORDS = 40
SLOW = ("--gpus", "sim:1,1", "--sim-rate", "250", "--shard-size", "1000", "--split-min", "1000",
        "--progress-interval", "5")  # whole files, ~40 s each
FAST = ("--sim-rate", "20000")  # a resumed session need not take as long (the sim task's rate is not a result)
STOP_CUT = re.compile(r"stopped (\S+) .*: (\d+) of (\d+) records kept")


def inputs(tmp_path: Path, files: int) -> tuple[Path, dict[str, int]]:
    folder = make_inputs(tmp_path / "in", files, seqs=RECORDS)
    return folder, {f"f{i:02d}.fa": RECORDS for i in range(files)}


def assert_once(out: Path, files: dict[str, int]) -> list[dict]:
    """Every record of every file done exactly once over all sessions: the manifest's
    spans of each file follow each other from its first record to its last."""
    rows = read_manifest(out)
    spans: dict[str, list] = {}
    for row in rows:
        spans.setdefault(row["file"], []).append(span_of(row))
    assert set(spans) == set(files), sorted(spans)
    for name, got in spans.items():
        got.sort()
        assert got[0][0] == (0, 0) and got[-1][1] == (files[name], 0), (name, got)
        for (_, stop), (begin, _) in zip(got, got[1:], strict=False):
            assert stop == begin, f"{name}: done twice or with a gap: {got}"
    return rows


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line.strip()]


def kept_parts(out: Path) -> list[tuple[str, int, int]]:
    """(file, records kept, records in flight) for each unit a stop cut."""
    return [(m.group(1), int(m.group(2)), int(m.group(3)))
            for e in events(out) if (m := STOP_CUT.search(e.get("message", "")))]


def assert_kept(out: Path, log: str) -> None:
    """The stop cut the units in flight at a record and kept what they had done."""
    kept = kept_parts(out)
    assert kept, log
    done, in_flight = sum(k for _, k, _ in kept), sum(n for _, _, n in kept)
    assert done > 0 and in_flight - done < in_flight, kept  # fewer records redone than were in flight
    print(f"\n{out.parent.name}: the stop kept {done} of the {in_flight} records in flight: {kept}")


def closing(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith(("finished:", "interrupted:", "aborted:"))]


def wait_in_flight(out: Path, job: Job) -> None:
    """Both devices have started their first unit and run a few seconds of it (the
    run's metrics.csv gains a row per device every 2 s)."""
    job.wait(lambda i: all(re.search(rf"(?m)\bSIM{d} +(running|idle)", job.text()) for d in (0, 1)),
             "both devices up")
    metrics = out / "metrics.csv"
    job.wait(lambda i: metrics.exists() and metrics.read_text().count("\n") > 5, "a few seconds of work")


def test_requeue_mid_run_resumes_and_keeps_the_finished_parts(slurm, tmp_path) -> None:
    folder, files = inputs(tmp_path, 4)
    out = tmp_path / "out"
    job = slurm.sbatch(SBATCH_EXAMPLE, str(folder), str(out), *SLOW, options=("-c", "1", "--gres=gpu:2"))
    wait_in_flight(out, job)
    subprocess.run(["scontrol", "requeue", job.id], check=True, timeout=30)
    job.requeued()
    info = job.wait(lambda i: i.get("JobState") == "COMPLETED", "the requeued job's end")
    log = job.text()
    print(log)
    assert info["ExitCode"] == "0:0" and info["Restarts"] == "1", info
    assert [line.split(":")[0] for line in closing(log)] == ["interrupted", "finished"], log
    assert closing(log)[0].endswith("run the same command again to resume")
    assert "start 1: " in log  # the same script, run again by Slurm
    assert_once(out, files)
    assert_kept(out, log)


def test_time_limit_with_signal_then_resubmit(slurm, tmp_path) -> None:
    folder, files = inputs(tmp_path, 8)  # 160 s of work: the signal comes long before the end
    out = tmp_path / "out"
    job = slurm.sbatch(SBATCH_EXAMPLE, str(folder), str(out), *SLOW,
                       options=("-c", "1", "--time=3", "--signal=B:TERM@100"))
    info = job.ended()
    log = job.text()
    print(log)
    assert info["JobState"] == "FAILED" and info["ExitCode"] == "130:0", info  # stopped by lbtui, before the limit
    assert [line.split(":")[0] for line in closing(log)] == ["interrupted"], log
    assert_kept(out, log)
    again = slurm.sbatch(SBATCH_EXAMPLE, str(folder), str(out), *SLOW, *FAST, options=("-c", "1",), log="again.log")
    info = again.ended()
    print(again.text())
    assert info["JobState"] == "COMPLETED", (info, again.text())
    assert closing(again.text())[0].startswith("finished:")
    assert_once(out, files)


def test_preemption_requeues_and_the_run_resumes(slurm, tmp_path) -> None:
    folder, files = inputs(tmp_path, 4)
    out = tmp_path / "out"
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=30).stdout.split()[0]
    job = slurm.sbatch(SBATCH_EXAMPLE, str(folder), str(out), *SLOW, options=("-c", cpus, "--partition=batch"))
    wait_in_flight(out, job)
    urgent = tmp_path / "urgent.sh"
    urgent.write_text("#!/bin/sh\nsleep 2\n")
    other = slurm.sbatch(urgent, options=("-c", "1", "--partition=urgent"), log="urgent.log")
    job.requeued()
    assert other.ended()["JobState"] == "COMPLETED"
    info = job.wait(lambda i: i.get("JobState") == "COMPLETED", "the preempted job's end")
    log = job.text()
    print(log)
    assert info["Restarts"] == "1", info  # preempted (PreemptMode=REQUEUE), run again
    assert [line.split(":")[0] for line in closing(log)] == ["interrupted", "finished"], log
    assert_once(out, files)
    assert_kept(out, log)


def test_a_plain_script_is_warned_and_still_resumes_exactly_once(slurm, tmp_path) -> None:
    """Without ``exec`` Slurm's SIGTERM reaches only bash, and lbtui is SIGKILLed when
    bash exits: that session ends with no closing line and loses its units in flight.
    lbtui says so at the start; the requeued session still finishes every record once."""
    folder, files = inputs(tmp_path, 4)
    out = tmp_path / "out"
    script = tmp_path / "plain.sbatch"
    script.write_text(f"#!/bin/bash\n#SBATCH --requeue --open-mode=append\n"
                      f"{lbtui_command()} run --out {out} {' '.join(SLOW)} {folder}\n")
    job = slurm.sbatch(script, options=("-c", "1"))
    wait_in_flight(out, job)
    assert "runs lbtui as its child" in job.text()
    subprocess.run(["scontrol", "requeue", job.id], check=True, timeout=30)
    job.requeued()
    info = job.wait(lambda i: i.get("JobState") == "COMPLETED", "the requeued job's end")
    log = job.text()
    print(log)
    assert info["Restarts"] == "1"
    assert [line.split(":")[0] for line in closing(log)] == ["finished"], log  # the first session was killed
    assert_once(out, files)


def test_srun_at_its_time_limit_stops_once_not_twice(slurm, tmp_path) -> None:
    """srun delivers SIGTERM twice, milliseconds apart, at a step's time limit: one
    graceful stop, not "stop now"."""
    folder, files = inputs(tmp_path, 8)
    out = tmp_path / "out"
    # Slurm enforces a time limit on its own clock (slurmctld looks every ~30 s), so the
    # signal lands anywhere from 60 to ~95 s in. Units of ~125 s are in flight whenever it
    # lands; 40 s ones once ended right at it (80 s), leaving nothing in flight to cut.
    command = ["srun", "-c", "1", "--time=1", lbtui_command(), "run", "--out", str(out), *SLOW,
               "--sim-rate", "80", str(folder)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    print(first.stdout, first.stderr)
    assert [line.split(":")[0] for line in closing(first.stdout)] == ["interrupted"], first.stdout
    actions = [e.get("action") for e in events(out) if e["kind"] == "control"]
    assert "stop" in actions and "stop_now" not in actions, actions
    assert_kept(out, first.stdout)
    again = subprocess.run([*command[:3], *command[4:], *FAST], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert closing(again.stdout)[0].startswith("finished:")
    assert_once(out, files)
