"""Delivering alerts: a script hook and a local HTTP server; slow and failing hooks never hold anyone up."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tests.helpers.wait import wait_for
from tests.helpers.webhook import Hook
from virnucpro_bridge.alerts.hooks import Notifier, check_command, check_url
from virnucpro_bridge.alerts.rules import Alert
from virnucpro_bridge.errors import UsageError

HOSTILE = "x.fa; touch PWNED $(touch PWNED2) `touch PWNED3` \"'"


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_a_script_gets_the_alert_in_its_environment_never_through_a_shell(tmp_path) -> None:
    seen = tmp_path / "seen"
    hook = script(tmp_path / "hook.sh", f'printf "%s\\n%s\\n%s\\n%s\\n" "$LBTUI_EVENT" "$LBTUI_OUT" "$LBTUI_MESSAGE" '
                  f'"$LBTUI_EXIT_CODE" > {seen}\n')
    n = Notifier(f"/runs/{HOSTILE}", command=f"{hook} --from lbtui", log=pytest.fail)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # where a shell would have made PWNED
    try:
        n.send(Alert("finished", f"the run finished: {HOSTILE}", exit_code=0))
        assert n.close(10)
    finally:
        os.chdir(cwd)
    assert seen.read_text().splitlines() == ["finished", f"/runs/{HOSTILE}", f"the run finished: {HOSTILE}", "0"]
    assert not list(tmp_path.glob("PWNED*"))


def test_the_same_alert_is_posted_as_json_with_a_text_field(tmp_path) -> None:
    hook = Hook()
    try:
        n = Notifier("/runs/today", url=hook.url, log=pytest.fail)
        n.send(Alert("device_retired", "GPU2 (Tesla T4) retired: 3 units in a row failed", device="GPU2"))
        assert n.close(10)
    finally:
        hook.close()
    (post,) = hook.posts
    assert post["type"] == "application/json"
    body = post["json"]
    assert body["event"] == "device_retired" and body["out"] == "/runs/today" and body["device"] == "GPU2"
    assert body["message"] in body["text"] and body["text"].startswith("lbtui on ")


def test_a_failing_hook_is_logged_once_and_the_next_alerts_still_go_to_the_other(tmp_path) -> None:
    hook = Hook(status=500)
    logged: list[str] = []
    bad = script(tmp_path / "bad.sh", 'echo "mail: relay refused" >&2\nexit 3\n')
    try:
        n = Notifier("/runs/x", command=bad, url=hook.url, log=logged.append)
        for k in range(3):
            n.send(Alert("stalled", f"GPU{k} stalled"))
        assert n.close(10)
    finally:
        hook.close()
    assert len(hook.posts) == 3  # every alert still reached the webhook, which refused each
    assert len(logged) == 2
    assert "--notify failed for 'stalled': exit 3: mail: relay refused" in logged[0]
    assert "--notify-url failed for 'stalled': HTTP 500" in logged[1]


def test_sending_never_waits_for_a_hook_still_running(tmp_path) -> None:
    started, release, seen = tmp_path / "started", tmp_path / "release", tmp_path / "seen"
    # The hook gives up after 60 s or once its folder is gone, so a failed test leaves no
    # shell behind; the test releases it whatever happens.
    hook = script(tmp_path / "hook.sh", f'touch {started}\ni=0\n'
                  f'while [ ! -e {release} ] && [ -d {tmp_path} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n'
                  f'echo "$LBTUI_MESSAGE" >> {seen}\n')
    n = Notifier("/runs/x", command=hook, log=pytest.fail, timeout=60)
    try:
        n.send(Alert("slow", "first"))
        wait_for(started.exists, timeout=10, what="the hook to start")
        n.send(Alert("finished", "second"))  # the first hook waits for us: this call must not
        assert not seen.exists()
    finally:
        release.touch()
    assert n.close(30)
    assert seen.read_text().splitlines() == ["first", "second"]


def test_a_hook_that_hangs_is_cut_off(tmp_path) -> None:
    answer = threading.Event()
    hook = Hook(hang=answer)
    slow = script(tmp_path / "slow.sh", "exec sleep 60\n")
    logged: list[str] = []
    try:
        n = Notifier("/runs/x", command=slow, url=hook.url, log=logged.append, timeout=0.5)
        n.send(Alert("slow", "first"))
        assert n.close(30)
    finally:
        answer.set()
        hook.close()
    assert "--notify failed for 'slow': no answer in 0.5 s (killed)" in logged[0]
    assert "--notify-url failed for 'slow'" in logged[1] and "timed out" in logged[1]
    assert len(logged) == 2


def test_bad_hooks_are_refused_before_the_run_starts() -> None:
    with pytest.raises(UsageError, match="no such command"):
        check_command("definitely-not-a-command-lbtui --x")
    with pytest.raises(UsageError, match="empty command"):
        check_command("  ")
    with pytest.raises(UsageError, match="No closing quotation"):
        check_command("notify-send 'unclosed")
    for url in ("ftp://host/x", "hooks.slack.com/services/x", "http://"):
        with pytest.raises(UsageError, match="expected an http"):
            check_url(url)
    assert check_command("sh -c 'exit 0'") == ["sh", "-c", "exit 0"]
