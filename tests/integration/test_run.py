"""A plain run: every unit done exactly once, results, summary, headless log, metrics."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

from virnucpro_bridge.options import RunOptions
from virnucpro_bridge.runner import Run

from .conftest import (
    assert_each_unit_once,
    expected_ids_sha256,
    make_inputs,
    unit_results,
    write_fasta,
)

RATE = "20000"  # 20 seqs x 250 residues = 5,000 residues: 0.25 s at speed 1


def test_every_unit_done_exactly_once(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 10, seqs=lambda i: 10 + 3 * i)
    res = run_lbtui(inputs, "--gpus", "sim:2,1,0.5", "--sim-rate", RATE, "--refresh", "0.5")
    assert res.code == 0, res.stderr
    rows = res.manifest()
    # A file is one unit, or the pieces of one cut in flight (the fast device ran dry):
    # each piece's result covers exactly its records.
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(10)})
    for row in rows:
        assert set(row) >= {"file", "shard", "device_index", "device", "sequences", "seconds",
                            "stolen", "attempt", "output", "start", "count"}
        assert row["attempt"] == 1
        assert row["device"] == f"sim{row['device_index']}"
        result = json.loads((res.out / row["output"]).read_text())
        assert result["sequences"] == row["sequences"] == row["count"]
        assert result["ids_sha256"] == expected_ids_sha256(inputs / row["file"], row["start"], row["count"])
    for i in range(10):
        assert sum(r["sequences"] for r in rows if r["file"] == f"f{i:02d}.fa") == 10 + 3 * i
    assert sorted(unit_results(res.out)) == sorted(Path(r["output"]).name for r in rows)
    assert {f"f{i:02d}.fa.json" for i in range(10) if sum(r["file"] == f"f{i:02d}.fa" for r in rows) == 1} \
        <= set(unit_results(res.out))  # an uncut file's result keeps the file's name
    summary = res.summary()
    assert summary["exit_code"] == 0
    assert (summary["files_total"], summary["files_done"], summary["files_failed"]) == (len(rows), len(rows), 0)
    assert bool(summary["splits"]) == any(r["split_from"] for r in rows)  # both halves name their parent
    assert summary["sequences"] == sum(10 + 3 * i for i in range(10))
    assert summary["makespan_s"] > 0
    devices = summary["devices"]
    assert [d["index"] for d in devices] == [0, 1, 2]
    assert sum(d["files_done"] for d in devices) == len(rows)
    assert sum(d["stolen_in"] for d in devices) == sum(d["stolen_out"] for d in devices) == summary["steals"]
    assert all(d["busy_s"] > 0 for d in devices if d["files_done"])
    assert all(d["worker_cpu_s"] > 0 for d in devices)  # each worker reported its CPU at least once
    for d in devices:  # where each worker's time went: the simulated inference is its "gpu" share
        split = d["time_split_s"]
        assert abs(sum(split.values()) - d["worker_wall_s"]) <= 0.01 + 0.01 * d["worker_wall_s"]
        assert split["gpu"] > 0 if d["files_done"] else split["input"] > 0
    run = json.loads((res.out / "run.json").read_text())
    assert run["main_pid"] > 0 and run["task"] == "sim" and "run" in run["argv"]
    assert [d["index"] for d in run["devices"]] == [0, 1, 2]
    assert all(d["pid"] for d in run["devices"])
    assert f"finished: {len(rows)}/{len(rows)} units" in res.stdout  # pieces of a cut count as units


def test_sharding_gives_uid_k_units(tmp_path, run_lbtui) -> None:
    big = write_fasta(tmp_path / "in" / "big.fa", 25)
    write_fasta(tmp_path / "in" / "small.fa", 5)
    res = run_lbtui(tmp_path / "in", "--gpus", "sim:1,1", "--sim-rate", "40000", "--shard-size", "10")
    assert res.code == 0, res.stderr
    rows = res.manifest()
    assert_each_unit_once(rows, {("big.fa", 0), ("big.fa", 1), ("big.fa", 2), ("small.fa", 0)})
    by_shard = {r["shard"]: r for r in rows if r["file"] == "big.fa"}
    assert [by_shard[k]["sequences"] for k in range(3)] == [10, 10, 5]
    for k in range(3):
        result = json.loads((res.out / by_shard[k]["output"]).read_text())
        assert result["shard"] == k
        assert result["ids_sha256"] == expected_ids_sha256(big, 10 * k, 10)
    # results are named by record range, so a rerun that cuts differently never overwrites a kept one
    assert sorted(unit_results(res.out)) == ["big.fa.r0-10.json", "big.fa.r10-20.json", "big.fa.r20-25.json",
                                             "small.fa.json"]
    assert res.summary()["files_total"] == 4
    run = Run(RunOptions(inputs=[str(tmp_path / "in")], gpus="sim:1", shard_size=10, out=str(tmp_path / "new")))
    run.prepare()
    assert [u.uid for u in run.all_units] == ["big.fa#0", "big.fa#1", "big.fa#2", "small.fa"]
    done = Run(RunOptions(inputs=[str(tmp_path / "in")], gpus="sim:1", shard_size=10, out=str(res.out)))
    done.prepare()
    assert done.all_units == []  # every range is in the manifest: nothing left to plan


def test_cpu_workers_run_the_sim_task(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 4, seqs=8)
    res = run_lbtui(inputs, "--gpus", "cpu:2", "--task", "sim", "--sim-rate", "40000")
    assert res.code == 0, res.stderr
    assert_each_unit_once(res.manifest(), {(f"f{i:02d}.fa", 0) for i in range(4)})
    assert {r["device"] for r in res.manifest()} <= {"cpu0", "cpu1"}
    assert [d["kind"] for d in res.summary()["devices"]] == ["cpu", "cpu"]


def test_empty_fasta_is_skipped_with_a_warning(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 2, seqs=4)
    (inputs / "empty.fa").write_text("")
    res = run_lbtui(inputs, "--gpus", "sim:1", "--sim-rate", "100000")
    assert res.code == 0, res.stderr
    assert "empty.fa" in res.stderr and "warning" in res.stderr
    assert {r["file"] for r in res.manifest()} == {"f00.fa", "f01.fa"}


def test_headless_status_lines_and_metrics_log(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 6, seqs=20)
    metrics = tmp_path / "metrics.csv"
    res = run_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", RATE, "--refresh", "0.3", "--no-split",
                    "--metrics-log", str(metrics))  # whole files: 6 units, as counted below
    assert res.code == 0, res.stderr
    lines = res.stdout.splitlines()
    for label in ("SIM0", "SIM1"):
        status = [ln for ln in lines if re.match(rf"\d\d:\d\d:\d\d {label} +\w+ +util ", ln)]
        assert len(status) >= 2, res.stdout  # periodic, plus the final one
    assert any(re.match(r"\d\d:\d\d:\d\d run +\d+/6 units", ln) for ln in lines)
    assert any(ln.startswith("finished: 6/6 units, 0 failed") for ln in lines)
    with open(metrics, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["timestamp", "device", "seq_per_s", "util_pct", "mem_pct", "queue", "done"]
    body = rows[1:]
    assert len(body) >= 4 and {r[1] for r in body} == {"0", "1"}
    # local time with its UTC offset: the same instants as metrics.csv's epoch seconds
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", r[0]) for r in body)
    with open(tmp_path / "out" / "metrics.csv", newline="") as fh:
        epochs = {float(r["time"]) for r in csv.DictReader(fh)}
    stamps = {datetime.fromisoformat(r[0]).timestamp() for r in body}
    assert all(min(abs(s - e) for e in epochs) < 0.002 for s in stamps)
    assert sum(int(r[6]) for r in body[-2:]) == 6  # the last rows: every unit done
    # appending: a second run adds rows under the same single header
    res2 = run_lbtui(inputs, "--gpus", "sim:1,1", "--metrics-log", str(metrics), out=tmp_path / "out2")
    assert res2.code == 0, res2.stderr
    assert metrics.read_text().count("timestamp,device") == 1


def test_rerun_with_everything_done_starts_no_worker(tmp_path, run_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 4, seqs=5)
    first = run_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", RATE)
    assert first.code == 0, first.stderr
    again = run_lbtui(inputs, "--gpus", "sim:1,1", "--sim-rate", RATE)
    assert again.code == 0, again.stderr
    summary = again.summary()
    assert (summary["files_total"], summary["files_skipped"], summary["files_done"]) == (4, 4, 4)
    assert [d["final_state"] for d in summary["devices"]] == ["done", "done"]
    assert len(again.manifest()) == 4  # nothing appended
    assert all(d["pid"] is None for d in json.loads((again.out / "run.json").read_text())["devices"])
