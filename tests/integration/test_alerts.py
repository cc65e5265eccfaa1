"""Alerts from real runs: a retired device, a stall and the end reach a script and a local webhook."""

from __future__ import annotations

import re
import stat

import pytest

from tests.helpers.webhook import Hook

from .conftest import make_inputs


@pytest.fixture
def webhook(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    hook = Hook()
    yield hook
    hook.close()


def hook_script(tmp_path):
    said = tmp_path / "alerts.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$LBTUI_EVENT|$LBTUI_DEVICE|$LBTUI_MESSAGE" >> {said}\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    return str(hook), said


@pytest.mark.slow
def test_a_retired_device_and_the_end_are_alerted(tmp_path, run_lbtui, webhook) -> None:
    inputs = make_inputs(tmp_path / "in", 24, seqs=8)
    hook, said = hook_script(tmp_path)
    # 0.5 s a unit: the good devices take seconds over the 24, the bad one fails its three at once
    res = run_lbtui(inputs, "--gpus", "cpu:3", "--sim-rate", "4000", "--retries", "0", "--refresh", "0.25",
                    "--task", "tests.helpers.tasks:BadDeviceTask", "--notify", hook, "--notify-url", webhook.url,
                    env={"LBTUI_TEST_DEVICES": "0", "LBTUI_TEST_STATE": str(tmp_path / "state")})
    assert res.code == 0, res.stdout + res.stderr
    assert res.summary()["devices"][0]["final_state"] == "dead", res.stdout
    lines = said.read_text().splitlines()
    assert [line.split("|")[:2] for line in lines] == [["device_retired", "CPU0"], ["finished", ""]]
    assert "retired: 3 units in a row failed on it" in lines[0]
    assert [p["json"]["event"] for p in webhook.posts] == ["device_retired", "finished"]
    # pieces cut in flight for an idle device add units: how many depends on timing
    assert re.search(r"the run finished: (\d+)/\1 units, exit 0$", webhook.posts[1]["json"]["text"])


@pytest.mark.slow
def test_a_stall_is_alerted(tmp_path, run_lbtui, webhook) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, "--gpus", "cpu:2", "--sim-rate", "20000", "--stall-timeout", "1", "--refresh", "0.25",
                    "--task", "tests.helpers.tasks:HangTask", "--notify-url", webhook.url,
                    env={"LBTUI_TEST_UNIT": "f02.fa", "LBTUI_TEST_HANG_S": "4",
                         "LBTUI_TEST_STATE": str(tmp_path / "state")})
    assert res.code == 0, res.stdout + res.stderr
    events = [p["json"]["event"] for p in webhook.posts]
    assert events[0] == "stalled" and events[-1] == "finished", events
    assert "stalled: no progress on f02.fa" in webhook.posts[0]["json"]["message"]
