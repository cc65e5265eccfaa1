"""Splitting on real worker processes: running units cut in flight, every record once,
and resume by record ranges with different devices."""

from __future__ import annotations

import json

from .conftest import expected_ids_sha256, tiles, write_fasta


def test_running_units_are_cut_for_an_idle_device_and_each_record_runs_once(tmp_path, run_lbtui) -> None:
    big = write_fasta(tmp_path / "in" / "big.fa", 600)
    # An 8× faster device that the plan treats as equal: it runs dry while the slow one
    # has most of its first (largest) piece to do, and cuts it.
    # Slow enough (about 10 s) that worker start-up on a loaded machine cannot decide it.
    res = run_lbtui(tmp_path / "in", "--gpus", "sim:1,8", "--no-weighted", "--sim-rate", "4000",
                    "--split-min", "20", "--steal-interval", "0.2")
    assert res.code == 0, res.stderr
    rows = res.manifest()
    assert tiles(rows, 600)
    summary = res.summary()
    assert summary["splits"] >= 1 and summary["sequences"] == 600
    assert summary["devices"][1]["split_in"] == summary["splits"] == summary["devices"][0]["split_out"]
    cut = [r for r in rows if r["split_from"]]
    assert cut  # both halves of a cut carry the unit they came from
    for r in rows:
        result = json.loads((res.out / r["output"]).read_text())
        assert result["sequences"] == r["count"]
        assert result["ids_sha256"] == expected_ids_sha256(big, r["start"], r["count"])
    events = [json.loads(line) for line in (res.out / "events.jsonl").read_text().splitlines()]
    splits = [e for e in events if e["kind"] == "split"]
    assert len(splits) == summary["splits"] and all(e["thief"] == 1 and e["victim"] == 0 for e in splits)
    assert "⇶ split big.fa [" in splits[0]["message"]


def test_no_split_runs_fixed_shards_and_never_cuts(tmp_path, run_lbtui) -> None:
    write_fasta(tmp_path / "in" / "big.fa", 300)
    res = run_lbtui(tmp_path / "in", "--gpus", "sim:1,4", "--no-weighted", "--sim-rate", "60000",
                    "--split-min", "20", "--steal-interval", "0.2", "--no-split", "--shard-size", "100")
    assert res.code == 0, res.stderr
    rows = res.manifest()
    assert sorted((r["start"], r["count"]) for r in rows) == [(0, 100), (100, 100), (200, 100)]
    assert res.summary()["splits"] == 0 and not any(r["split_from"] for r in rows)


def test_resume_keeps_finished_ranges_and_plans_the_rest_for_other_devices(tmp_path, run_lbtui) -> None:
    big = write_fasta(tmp_path / "in" / "big.fa", 500)
    first = run_lbtui(tmp_path / "in", "--gpus", "sim:1,1,1", "--sim-rate", "200000", "--split-min", "30")
    assert first.code == 0, first.stderr
    lines = (first.out / "manifest.jsonl").read_text().splitlines()
    kept = [json.loads(line) for line in lines[: len(lines) // 2]]
    (first.out / "manifest.jsonl").write_text("".join(line + "\n" for line in lines[: len(lines) // 2])
                                              + '{"torn": ')  # a kill mid-line
    again = run_lbtui(tmp_path / "in", "--gpus", "sim:2,1", "--sim-rate", "200000", "--split-min", "45",
                      out=first.out)
    assert again.code == 0, again.stderr
    rows = again.manifest()
    new = rows[len(kept):]
    assert again.summary()["files_skipped"] == len(kept)
    assert tiles(kept + new, 500)  # kept ranges and new ones tile the file exactly once
    for r in new:
        result = json.loads((again.out / r["output"]).read_text())
        assert result["ids_sha256"] == expected_ids_sha256(big, r["start"], r["count"])
