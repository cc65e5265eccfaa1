"""Work stealing end to end: idle fast devices take queued units from slow ones."""

from __future__ import annotations

import re

from .conftest import assert_each_unit_once, make_inputs, unit_results


def test_steals_happen_and_outputs_match_a_no_steal_run(tmp_path, run_lbtui) -> None:
    # --no-weighted splits the files evenly, so the 0.25x device holds a backlog
    # a 16x faster device can clear: steals are certain, not a timing accident.
    inputs = make_inputs(tmp_path / "in", 12, seqs=12)  # 3,000 residues: 0.05 s / 0.8 s
    # --split-min 1000 (records): no cuts in flight, so the result files compare one to one
    # with the no-steal run; cuts have their own tests (test_splitting.py).
    common = ("--gpus", "sim:4,0.25", "--sim-rate", "15000", "--refresh", "0.5", "--split-min", "1000")
    res = run_lbtui(inputs, *common, "--no-weighted", "--verbose", out=tmp_path / "steal")  # steals printed
    assert res.code == 0, res.stderr
    summary = res.summary()
    assert summary["steals"] > 0
    fast, slow = summary["devices"]
    assert fast["stolen_in"] == summary["steals"] and slow["stolen_out"] == summary["steals"]
    rows = res.manifest()
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(12)})
    stolen = [r for r in rows if r["stolen"]]
    assert len(stolen) == summary["steals"]
    assert all(r["device_index"] == 0 for r in stolen)
    assert fast["files_done"] > slow["files_done"]
    steal_lines = [
        ln for ln in res.stdout.splitlines() if re.search(r"steal  SIM0 <- SIM1  f\d\d\.fa  \(12 seqs\)", ln)
    ]
    assert len(steal_lines) == summary["steals"], res.stdout

    ref = run_lbtui(inputs, *common, "--no-steal", out=tmp_path / "static")
    assert ref.code == 0, ref.stderr
    assert ref.summary()["steals"] == 0
    assert not any(r["stolen"] for r in ref.manifest())
    assert unit_results(res.out) == unit_results(ref.out)  # byte for byte
