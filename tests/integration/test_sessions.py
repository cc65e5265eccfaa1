"""A run done in three sessions (interrupted, killed, resumed to the end) is one run:
summary.json, `lbtui report`, `lbtui status` and the alerts all describe all three."""

from __future__ import annotations

import json
import signal
import stat

import pytest

from lbtui.cli import main
from lbtui.report.page import build
from tests.helpers.wait import wait_for
from tests.report.htmlcheck import parse

from .conftest import make_inputs, read_manifest

TIMELINE = "timeline of units per device"
FILES, SEQS = 12, 20


@pytest.mark.slow
def test_a_run_done_in_three_sessions_is_one_run(tmp_path, start_lbtui, run_lbtui, capsys) -> None:
    inputs = make_inputs(tmp_path / "in", FILES, seqs=SEQS)
    out = tmp_path / "out"
    hook, said = tmp_path / "hook.sh", tmp_path / "alerts.log"
    hook.write_text(f'#!/bin/sh\necho "$LBTUI_EVENT $LBTUI_EXIT_CODE" >> {said}\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    opts = ("--gpus", "sim:1,1", "--sim-rate", "4000", "--refresh", "0.5", "--notify", str(hook))

    first = start_lbtui(inputs, *opts)  # session 1: Ctrl+C once two units are done
    wait_for(lambda: len(read_manifest(out)) >= 2, what="two units of session 1")
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert first.returncode == 130
    done_first = len(read_manifest(out))

    second = start_lbtui(inputs, *opts)  # session 2: killed outright two units later
    wait_for(lambda: len(read_manifest(out)) >= done_first + 2, what="two units of session 2")
    second.kill()
    second.communicate(timeout=60)

    third = run_lbtui(inputs, *opts)  # session 3: to the end
    assert third.code == 0, third.stderr

    summary = json.loads((out / "summary.json").read_text())
    sessions, run = summary["sessions"], summary["run"]
    assert [s["end"] for s in sessions] == ["interrupted", "killed", "finished"]
    assert [s["exit_code"] for s in sessions] == [130, None, 0]
    assert run["sessions"] == 3 and run["sequences"] == FILES * SEQS  # every record exactly once
    assert run["units"] == sum(s["units"] for s in sessions) == len(read_manifest(out))
    assert sessions[1]["units"] >= 2 and not sessions[1]["recorded"]
    assert run["gaps_s"] > 0 and run["span_s"] > run["wall_s"]

    seqs = [json.loads(line)["seq"] for line in (out / "events.jsonl").read_text().splitlines()]
    assert seqs == sorted(set(seqs))  # unique across the three sessions, in the order written

    page = parse(build(out))
    text = page.all_text
    assert page.count("rect", "gap", TIMELINE) == 2  # three bands, two breaks between them
    assert all(f"Session {n}" in text for n in (1, 2, 3)) and "killed (no summary)" in text
    assert page.count("rect", "u", TIMELINE) == len(read_manifest(out))

    assert main(["status", "--json", str(out)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["state"] == "finished" and [s["end"] for s in facts["sessions"]] == [
        "interrupted", "killed", "finished"]
    assert facts["progress"]["sequences_done"] == facts["progress"]["sequences_total"] == FILES * SEQS

    assert said.read_text().splitlines() == ["interrupted 130", "finished 0"]  # a killed run says nothing
