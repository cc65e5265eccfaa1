"""A run's sessions read back from sessions.jsonl, the manifest and summary.json, and their totals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from virnucpro_bridge.runfiles.folder_format import FORMAT
from virnucpro_bridge.runfiles.reader import earlier_sessions, load
from virnucpro_bridge.runfiles.sessions import close_session, run_totals, start_line

T0 = 1_790_000_000.0
GPUS = [{"index": 0, "name": "NVIDIA H100", "kind": "cuda", "weight": 2.0},
        {"index": 1, "name": "NVIDIA A100", "kind": "cuda", "weight": 1.0}]


def row(run_id: str, i: int, device: int, started: float, seconds: float = 10.0, seqs: int = 100) -> str:
    return json.dumps({"file": f"f{i}.fa", "shard": 0, "device_index": device, "device": f"gpu{device}",
                       "sequences": seqs, "seconds": seconds, "run_id": run_id, "started": started,
                       "ended": started + seconds, "start": 0, "count": seqs})


def summary_of(devices: list[dict], *, done: int, skipped: int, seqs: int, code: int, start: float,
               end: float) -> dict:
    return {"makespan_s": end - start - 1, "files_total": 10, "files_done": done + skipped, "files_skipped": skipped,
            "files_failed": 1 if code == 1 else 0, "sequences": seqs, "steals": 2, "splits": 1, "exit_code": code,
            "started_epoch": start, "finished_epoch": end, "devices": [
                {"index": d["index"], "name": d["name"], "kind": d["kind"], "weight": d["weight"],
                 "files_done": done // len(devices), "sequences": seqs // len(devices), "busy_s": 50.0,
                 "final_state": "done"} for d in devices]}


def three_sessions(out: Path) -> None:
    """Session a: interrupted after 4 units (exact figures); b: killed after 2 (a start line
    and manifest rows only); c: the current one, finished."""
    out.mkdir()
    lines, rows = [], []
    a = start_line("a", T0, GPUS)
    summary = summary_of(GPUS, done=4, skipped=0, seqs=400, code=130, start=T0, end=T0 + 100)
    lines += [a, close_session(summary, a, [])]
    rows += [row("a", i, i % 2, T0 + 10 + 20 * (i // 2)) for i in range(4)]
    lines.append(start_line("b", T0 + 3600, GPUS[:1]))
    rows += [row("b", i, 0, T0 + 3610 + 10 * (i - 4)) for i in (4, 5)]
    (out / "sessions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"session": "st')
    (out / "manifest.jsonl").write_text("".join(r + "\n" for r in rows))
    (out / "events.jsonl").write_text(json.dumps({"seq": 9, "time": T0 + 3700.0, "kind": "info",
                                                  "message": "last word of b", "run_id": "b"}) + "\n")
    run = {"format": FORMAT, "run_id": "b", "main_pid": 1, "start_epoch": T0 + 3600}
    (out / "run.json").write_text(json.dumps(run))


def test_three_sessions_one_of_them_killed(tmp_path) -> None:
    out = tmp_path / "run"
    three_sessions(out)
    earlier = earlier_sessions(out)  # what session c finds when it starts
    assert [(s.run_id, s.end, s.units, s.sequences, s.recorded) for s in earlier] == [
        ("a", "interrupted", 4, 400, True), ("b", "killed", 2, 200, False)]
    b = earlier[1]
    assert b.started == T0 + 3600 and b.ended == T0 + 3700  # its last word, after its last unit
    assert [(d.index, d.kind, d.units, d.busy_s) for d in b.devices] == [(0, "cuda", 2, 20.0)]
    c = start_line("c", T0 + 7200, GPUS)
    summary = summary_of(GPUS, done=4, skipped=6, seqs=400, code=0, start=T0 + 7200, end=T0 + 7300)
    end = close_session(summary, c, earlier)
    assert end["session"] == "end" and end["units"] == 4 and end["end"] == "finished"
    assert [s["run_id"] for s in summary["sessions"]] == ["a", "b", "c"]
    run = summary["run"]
    assert run["sessions"] == 3 and run["units"] == 10 and run["sequences"] == 1000
    assert run["wall_s"] == pytest.approx(100 + 100 + 100)
    assert run["span_s"] == pytest.approx(7300) and run["gaps_s"] == pytest.approx(7000)
    assert run["gpu_hours"] == pytest.approx((100 * 2 + 100 * 1 + 100 * 2) / 3600, abs=1e-4)
    assert run["device_s"] == pytest.approx(100 + 20 + 100)
    gpu0 = run["devices"][0]
    assert gpu0["sessions"] == 3 and gpu0["units"] == 2 + 2 + 2 and gpu0["busy_s"] == pytest.approx(120)


def test_the_folder_read_after_the_end_agrees_with_the_summary(tmp_path) -> None:
    out = tmp_path / "run"
    three_sessions(out)
    earlier = earlier_sessions(out)
    c = start_line("c", T0 + 7200, GPUS)
    summary = summary_of(GPUS, done=4, skipped=6, seqs=400, code=0, start=T0 + 7200, end=T0 + 7300)
    with open(out / "sessions.jsonl", "a") as fh:  # after the torn line: the journal cuts it first
        fh.write("\n" + json.dumps(c) + "\n" + json.dumps(close_session(summary, c, earlier)) + "\n")
    (out / "summary.json").write_text(json.dumps(summary))
    run = {"format": FORMAT, "run_id": "c", "main_pid": 1, "start_epoch": T0 + 7200}
    (out / "run.json").write_text(json.dumps(run))
    found = load(out).sessions
    assert [s.run_id for s in found] == ["a", "b", "c"]
    assert run_totals(found) == summary["run"]
    (out / "sessions.jsonl").unlink()  # summary.json repeats every session's figures
    assert [(s.run_id, s.end, s.recorded) for s in load(out).sessions] == [
        ("a", "interrupted", True), ("b", "killed", False), ("c", "finished", True)]


def test_the_session_running_now_is_running_not_killed(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "sessions.jsonl").write_text(json.dumps(start_line("now", T0, GPUS)) + "\n")
    (out / "manifest.jsonl").write_text(row("now", 0, 1, T0 + 1) + "\n")
    (out / "run.json").write_text(json.dumps({"format": FORMAT, "run_id": "now", "main_pid": 1, "start_epoch": T0}))
    (s,) = load(out, live="now").sessions
    assert s.end == "running" and s.units == 1 and s.exit_code is None
    assert load(out).sessions[0].end == "killed"
