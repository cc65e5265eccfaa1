"""`lbtui status OUT`: where a run stands, live (through its channel) or from its folder, and its exit code."""

from __future__ import annotations

import json
import os
import time

import pytest

from lbtui.cli import main
from tests.report.runfolder import make_run


def status(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["status", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_live_run_answers_through_its_channel(served, capsys) -> None:
    run = served()
    code, out, _ = status(capsys, str(run.out))
    assert code == 4
    snap = run.fake.snapshot()
    lines = out.splitlines()
    assert lines[0] == f"{run.out}: running"
    assert lines[1].startswith("  held by ") and f"pid {os.getpid()}" in lines[1]
    done = snap.units_done + snap.units_skipped
    assert f"{done:,}/{snap.units_total:,} units" in out and "(from the folder)" not in out
    assert all(d.label in out for d in snap.devices)
    code, out, _ = status(capsys, "--json", str(run.out))
    facts = json.loads(out)
    assert code == 4 and facts["state"] == "running" and facts["source"] == "channel"
    assert facts["progress"]["units_done"] == done and facts["eta_s"] == snap.eta
    assert [d["label"] for d in facts["devices"]] == [d.label for d in snap.devices]


def test_finished_runs_say_how_they_ended(tmp_path, capsys) -> None:
    ok = make_run(tmp_path / "ok", earlier=5)
    code, out, _ = status(capsys, str(ok.path))
    assert code == 0 and out.startswith(f"{ok.path}: finished (exit 0): every unit done")
    assert "  sessions" in out and "killed" in out  # the earlier session left only its manifest lines
    assert "exit code  0 · lbtui status exits 0 (finished)" in out
    failed = make_run(tmp_path / "failed", failures=2, exit_code=1)
    code, out, _ = status(capsys, "--json", str(failed.path))
    facts = json.loads(out)
    assert code == 1 and facts["state"] == "failed" and facts["exit_code"] == 1
    assert facts["progress"]["units_failed"] == 2
    stopped = make_run(tmp_path / "stopped", exit_code=130, interrupted=True)
    code, out, _ = status(capsys, "-q", str(stopped.path))
    assert code == 3 and out == ""


def test_a_killed_run_and_a_run_on_another_host(tmp_path, capsys) -> None:
    killed = make_run(tmp_path / "killed", exit_code=None)  # its pid is long gone
    code, out, _ = status(capsys, str(killed.path))
    assert code == 3 and "killed" in out.splitlines()[0] and "(from the folder)" in out
    elsewhere = make_run(tmp_path / "elsewhere", exit_code=None)
    run = json.loads((elsewhere.path / "run.json").read_text())
    run.update(host="gpu-node-17", slurm_job="881234")  # as run.json records them
    (elsewhere.path / "run.json").write_text(json.dumps(run))
    code, out, _ = status(capsys, "--json", str(elsewhere.path))  # its journals were just written
    facts = json.loads(out)
    assert code == 4 and facts["state"] == "running" and "cannot be checked from here" in facts["note"]
    assert facts["holder"] == {"host": "gpu-node-17", "pid": 99, "slurm_job_id": "881234", "here": False}
    old = time.time() - 3600
    for f in elsewhere.path.iterdir():
        os.utime(f, (old, old))
    code, out, _ = status(capsys, str(elsewhere.path))
    assert code == 3 and "nothing written for 60 min" in out and "Slurm job 881234" in out


def test_not_a_run_folder_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    code, out, err = status(capsys, str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1 and "not an lbtui run folder" in err
    code, _, err = status(capsys, str(tmp_path / "nowhere"))
    assert code == 2 and "no such folder" in err


def test_names_from_the_folder_cannot_steer_the_terminal(tmp_path, capsys) -> None:
    made = make_run(tmp_path / "run", exit_code=None)
    with open(made.path / "events.jsonl", "a") as fh:
        fh.write(json.dumps({"seq": 99, "time": time.time(), "kind": "failure", "level": "error",
                             "message": "evil\x1b]0;pwned\x07.fa\nfailed"}) + "\n")
    code, out, _ = status(capsys, str(made.path))
    assert code == 3 and "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;pwned\\x07.fa\\nfailed" in out  # shown as escapes, on one line


@pytest.mark.parametrize("events", ["0", "2"])
def test_how_many_events_are_shown(tmp_path, capsys, events) -> None:
    made = make_run(tmp_path / "run", failures=3, exit_code=1)
    _, out, _ = status(capsys, "--json", "--events", events, str(made.path))
    assert len(json.loads(out)["events"]) == int(events)
