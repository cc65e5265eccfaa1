"""Retries and failures, with fault-injecting tasks from ``tests.helpers.tasks``.

The helper tasks run on CPU workers (simulated devices take only the sim
task); they sleep and write results exactly like ``sim``.
"""

from __future__ import annotations

import re

from .conftest import assert_each_unit_once, make_inputs

ALL = {(f"f{i:02d}.fa", 0) for i in range(6)}
FAST = ("--gpus", "cpu:2", "--sim-rate", "40000")  # 8 seqs x 250 residues: 0.05 s per unit


def attempts(state, uid: str) -> int:
    """Attempts the helper tasks recorded for ``uid`` (see tests/helpers/tasks.py)."""
    return len(list(state.glob(f"{uid}.*")))


def fault_env(tmp_path, unit: str, **extra: str) -> dict[str, str]:
    return {"LBTUI_TEST_UNIT": unit, "LBTUI_TEST_STATE": str(tmp_path / "state"), **extra}


def test_transient_failure_succeeds_on_retry(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.tasks:FlakyTask",
                    env=fault_env(tmp_path, "f02.fa"))
    assert res.code == 0, res.stderr
    rows = res.manifest()
    assert_each_unit_once(rows, ALL)
    by_file = {r["file"]: r for r in rows}
    assert by_file["f02.fa"]["attempt"] == 2
    assert all(r["attempt"] == 1 for f, r in by_file.items() if f != "f02.fa")
    assert re.search(r"retry +f02\.fa failed on CPU\d \(attempt 1\): RuntimeError: injected", res.stdout)
    assert res.summary()["files_failed"] == 0
    assert "injected transient failure" in (res.out / "errors.log").read_text()  # with its traceback
    assert "Traceback" in (res.out / "errors.log").read_text()


def test_unit_failing_every_attempt_is_marked_failed(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, *FAST, "--retries", "1", "--task", "tests.helpers.tasks:FlakyTask",
                    env=fault_env(tmp_path, "f03.fa", LBTUI_TEST_FAILS="99"))
    assert res.code == 1, res.stderr
    assert attempts(tmp_path / "state", "f03.fa") == 2  # --retries 1: two attempts
    assert_each_unit_once(res.manifest(), ALL - {("f03.fa", 0)})
    summary = res.summary()
    assert summary["exit_code"] == 1
    assert (summary["files_done"], summary["files_failed"]) == (5, 1)
    assert summary["failures"] == [{"unit": "f03.fa", "error": "RuntimeError: injected transient failure on f03.fa"}]
    assert "1 failed" in res.stdout
    assert not (res.out / "units" / "f03.fa.json").exists()


def test_unit_error_fails_at_once(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, *FAST, "--retries", "3", "--task", "tests.helpers.tasks:BrokenUnitTask",
                    env=fault_env(tmp_path, "f01.fa"))
    assert res.code == 1, res.stderr
    assert attempts(tmp_path / "state", "f01.fa") == 1
    assert "retry" not in res.stdout
    assert res.summary()["failures"] == [{"unit": "f01.fa", "error": "f01.fa: not a usable input (injected)"}]
    assert_each_unit_once(res.manifest(), ALL - {("f01.fa", 0)})


def test_worker_segfault_on_a_unit_is_survived(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.tasks:CrashTask",
                    env=fault_env(tmp_path, "f00.fa"))
    assert res.code == 0, res.stderr
    rows = res.manifest()
    assert_each_unit_once(rows, ALL)
    assert {r["file"]: r for r in rows}["f00.fa"]["attempt"] == 2
    assert re.search(r"death +CPU\d died: killed by SIGSEGV", res.stdout), res.stdout
    states = [d["final_state"] for d in res.summary()["devices"]]
    assert sorted(states) == ["dead", "done"]


def test_worker_death_is_redone_even_with_no_retries(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, *FAST, "--retries", "0", "--task", "tests.helpers.tasks:CrashTask",
                    env=fault_env(tmp_path, "f00.fa"))
    assert res.code == 0, res.stderr
    assert_each_unit_once(res.manifest(), ALL)


def test_worker_exit_on_a_unit_is_survived(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.tasks:ExitTask",
                    env=fault_env(tmp_path, "f04.fa"))
    assert res.code == 0, res.stderr
    assert_each_unit_once(res.manifest(), ALL)
    assert re.search(r"death +CPU\d died: exited with code 7", res.stdout), res.stdout


def test_every_device_dying_fails_the_rest(tmp_path, run_lbtui) -> None:
    # one device, killed by its first unit: nothing can run what is left
    inputs = make_inputs(tmp_path / "in", 3, seqs=8)
    res = run_lbtui(inputs, "--gpus", "cpu:1", "--sim-rate", "40000", "--task",
                    "tests.helpers.tasks:CrashTask", env=fault_env(tmp_path, "f00.fa"))
    assert res.code == 1, res.stderr
    summary = res.summary()
    assert summary["files_failed"] == 3 and summary["files_done"] == 0
    assert summary["devices"][0]["final_state"] == "dead"


def test_stalled_worker_is_flagged_and_its_queue_taken(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.tasks:HangTask", "--stall-timeout", "0.5",
                    "--stall-action", "flag", "--steal-interval", "0.2",
                    env=fault_env(tmp_path, "f00.fa", LBTUI_TEST_HANG_S="2.5"))
    assert res.code == 0, res.stderr
    match = re.search(r"stall +(CPU\d) stalled: no progress on f00\.fa for 0\.5 s", res.stdout)
    assert match, res.stdout
    stalled = int(match.group(1)[3:])
    summary = res.summary()
    assert summary["devices"][stalled]["final_state"] == "done"  # no longer stalled once it finished
    rows = res.manifest()
    assert_each_unit_once(rows, ALL)
    hung = {r["file"]: r for r in rows}["f00.fa"]
    assert hung["attempt"] == 1 and hung["device_index"] == stalled  # a stall is not a failure
    # Whatever it still held when it hung went to the other device (stolen) during the 2.5 s:
    # it ran nothing after f00. (Its queue may already have been empty: a device that starts
    # first can run its own units and steal f00 last from one still starting up.)
    assert not [r for r in rows if r["device_index"] == stalled and r["started"] > hung["started"]], rows


def test_setup_failure_on_one_device(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    # 0.5 s a unit: CPU1 must not steal and finish all six before CPU0's setup has failed
    # (both start together; at FAST's 0.05 s it did, on a loaded machine, and the run
    # ended without a word about CPU0).
    res = run_lbtui(inputs, *FAST, "--sim-rate", "4000", "--no-split", "--task", "tests.helpers.tasks:SetupFailTask",
                    env={"LBTUI_TEST_DEVICES": "0"})
    assert res.code == 0, res.stderr
    assert re.search(r"death +CPU0 died: setup failed: MemoryError: injected", res.stdout), res.stdout
    assert_each_unit_once(res.manifest(), ALL)
    assert {r["device_index"] for r in res.manifest()} == {1}
    assert [d["final_state"] for d in res.summary()["devices"]] == ["dead", "done"]
    log = (res.out / "errors.log").read_text()
    assert "CPU0 setup" in log and "Traceback" in log and "MemoryError: injected" in log


def test_setup_failure_on_every_device(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 3, seqs=8)
    res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.tasks:SetupFailTask",
                    env={"LBTUI_TEST_DEVICES": "0,1"})
    # Nothing can run: the run stops at once with the one error line (exit 2),
    # not unit after unit (tests/integration/test_device_health.py has more).
    assert res.code == 2, res.stderr
    summary = res.summary()
    assert summary["files_failed"] == 0 and summary["files_done"] == 0 and summary["files_not_run"] == 3
    assert "lbtui: error: setup failed on every device: MemoryError: injected" in res.stderr
    assert "Traceback" not in res.stderr


def test_merge_failure_exits_1_now_and_on_a_fully_resumed_rerun(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=8)
    env = fault_env(tmp_path, "f02.fa")
    for _ in range(2):  # the rerun has nothing to run, only the merges to redo
        res = run_lbtui(inputs, *FAST, "--task", "tests.helpers.tasks:MergeFailTask", env=env)
        assert res.code == 1, res.stderr
        summary = res.summary()
        assert summary["files_failed"] == 0 and summary["files_not_run"] == 0
        assert summary["merge_failures"] == [
            {"file": "f02.fa", "error": "f02.fa: merging results failed: OSError: injected merge failure for f02.fa"}]
    assert summary["files_skipped"] == 6
    assert_each_unit_once(res.manifest(), ALL)
