"""``lbtui verify OUT``: a run folder checked against its manifest and its inputs before publishing.

0 when every kept result is present and as written, every input record is covered once
and merged files are consistent; 1 naming each file that fails; 2 when there is nothing
to verify (not a run folder, a run still writing it, inputs not found).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.wait import wait_for
from tests.integration.conftest import REPO, make_inputs, write_fasta

pytestmark = pytest.mark.slow  # real lbtui runs
FAST = ("--gpus", "sim:1", "--sim-rate", "200000")


def lbtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lbtui.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def verify(out: Path, *inputs: Path) -> subprocess.CompletedProcess:
    return lbtui("verify", str(out), *map(str, inputs))


@pytest.fixture
def finished(tmp_path, run_lbtui):
    """A finished sim run over 3 files, one of them cut into 3 pieces: (inputs, out)."""
    inputs = make_inputs(tmp_path / "in", 3, seqs=4)
    write_fasta(inputs / "big.fa", 25)
    res = run_lbtui(inputs, *FAST, "--shard-size", "10", "--no-split")
    assert res.code == 0, res.stderr
    return inputs, res.out


def fails(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 1, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]


def test_a_sound_folder_verifies(finished) -> None:
    inputs, out = finished
    result = verify(out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (f"{out}: ok: 4 input file(s), 6 unit result(s), 37 sequences; every record covered "
                             "once, every result as written\n")
    moved = inputs.parent / "moved"
    shutil.move(inputs, moved)
    assert verify(out).returncode == 2  # the recorded inputs are gone: say so, check nothing
    assert verify(out, moved).returncode == 0


def test_a_tampered_folder_names_every_file_that_fails(finished) -> None:
    inputs, out = finished
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    (out / "units" / "f00.fa.json").write_bytes(b"")  # emptied
    shutil.copy(out / "units" / "big.fa.r0-10.json", out / "units" / "big.fa.r10-20.json")  # swapped
    kept = [r for r in rows if r["file"] != "f01.fa"]  # f01.fa's only row lost
    kept.append(dict(next(r for r in rows if r["file"] == "big.fa" and r["start"] == 20), count=3))  # twice
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    (inputs / "f02.fa").write_text(">other\nACGT\n")  # the input changed since the run
    assert sorted(fails(verify(out))) == [
        "FAIL big.fa: records 20–25 done twice in one run (" + rows[0]["run_id"] + ")",
        "FAIL big.fa: records 23–25 (of 25) have no result",  # the newest row, the short one, is what counts
        "FAIL f01.fa: no results in the manifest",
        "FAIL f02.fa: changed since the run: its sha256 is not the one its results were made from",
        "FAIL units/big.fa.r10-20.json: changed since it was written (its size or sha256 is not the manifest's)",
        "FAIL units/f00.fa.json: changed since it was written (its size or sha256 is not the manifest's)",
    ]


def test_a_gap_and_a_hostile_path_are_named(finished) -> None:
    _, out = finished
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    rows = [r for r in rows if not (r["file"] == "big.fa" and r["start"] == 10)]
    f00 = next(r for r in rows if r["file"] == "f00.fa")
    f00["output"] = "../../etc/passwd\x1b[2J"
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = fails(verify(out))
    assert "FAIL big.fa: records 10–20 (of 25) have no result" in found  # [10, 20), as the dashboard says spans
    assert "FAIL ../../etc/passwd\\x1b[2J: the manifest points outside the run folder" in found


def test_a_live_run_or_no_run_is_exit_2(tmp_path, start_lbtui) -> None:
    inputs = make_inputs(tmp_path / "in", 4, seqs=12)
    out = tmp_path / "out"
    proc = start_lbtui(inputs, "--gpus", "sim:1", "--sim-rate", "1000", out=out)
    wait_for(lambda: (out / "run.json").exists(), what="run.json")
    live = verify(out)
    assert live.returncode == 2 and live.stdout == ""
    assert live.stderr == (f"lbtui: error: {out}: a run is still writing it (pid {proc.pid} on "
                           f"{__import__('socket').gethostname()}, started {live.stderr.split('started ')[1]}")
    proc.kill()
    proc.wait()
    nothing = verify(tmp_path / "in")
    assert nothing.returncode == 2 and "not an lbtui run folder" in nothing.stderr


def test_virnucpro_merged_files_are_checked(tmp_path) -> None:
    models = tmp_path / "models"
    assert lbtui("models", "init-demo", str(models)).returncode == 0
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(REPO / "lbtui" / "demo_data" / "tiny_sample.fa", inputs)
    out = tmp_path / "out"
    run = lbtui("run", "--headless", "--gpus", "cpu:1", "--models", str(models), "--shard-size", "10",
                "--no-split", "--out", str(out), str(inputs))
    assert run.returncode == 0, run.stderr
    assert verify(out).returncode == 0
    results = out / "results" / "tiny_sample.fa" / "prediction_results.txt"
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:1] + lines[2:]))  # one row dropped from the merged file
    assert fails(verify(out)) == ["FAIL results/tiny_sample.fa/prediction_results.txt: differs from what its unit "
                                  "results merge into"]
