"""A resume keeps only results it can vouch for, and says what it redoes and why.

Today's main kept a unit whenever its manifest line matched the input's sha256 and its
result file existed: an emptied, overwritten or swapped result was kept and the rerun
said ``finished ... 0 seqs``; A, then B, then A again with the same --out kept the A row
whose file held B's output.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import expected_ids_sha256, make_inputs, read_manifest, write_fasta
from virnucpro_bridge.inputs.units import Unit
from virnucpro_bridge.runfiles.folder_format import FORMAT
from virnucpro_bridge.runfiles.manifest import ManifestEntry

# runfiles.vouch and the new parts of runfiles.outputs are imported inside the tests that
# use them: the tests of what a user sees run (and fail) on a tree without them too.

pytestmark = pytest.mark.slow  # real lbtui runs
FAST = ("--gpus", "sim:1", "--sim-rate", "200000")


def first_run(tmp_path: Path, run_lbtui, files: int = 3):
    inputs = make_inputs(tmp_path / "in", files, seqs=4)
    res = run_lbtui(inputs, *FAST)
    assert res.code == 0, res.stderr
    return inputs, res


def redo_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "resuming: redoing" in line]
    assert len(lines) == 1, stderr
    return lines[0]


def rows_for(out: Path, name: str) -> list[dict]:
    return [r for r in read_manifest(out) if r["file"] == name]


def test_every_row_records_its_result_bytes(tmp_path, run_lbtui) -> None:
    from virnucpro_bridge.runfiles import vouch

    _, res = first_run(tmp_path, run_lbtui)
    rows = res.manifest()
    assert rows and list(rows[0]) == list(ManifestEntry.__dataclass_fields__)
    for r in rows:
        assert vouch.digest(res.out / r["output"]) == (r["output_sha256"], r["output_size"])
    assert res.summary()["resume"] == {"kept_pieces": 0, "kept_sequences": 0, "redone": {}}


@pytest.mark.parametrize("damage", ["emptied", "garbage of the same size", "another unit's result", "a link",
                                    "removed"])
def test_a_damaged_result_is_redone_and_the_run_says_why(tmp_path, run_lbtui, damage) -> None:
    inputs, res = first_run(tmp_path, run_lbtui)
    victim = res.out / "units" / "f00.fa.json"
    good = victim.read_bytes()
    if damage == "emptied":
        victim.write_bytes(b"")
    elif damage == "garbage of the same size":
        victim.write_bytes(b"x" * len(good))
    elif damage == "another unit's result":
        shutil.copy(res.out / "units" / "f01.fa.json", victim)
    elif damage == "a link":
        (res.out / "copy.json").write_bytes(good)  # the right bytes, but not the file the worker wrote
        victim.unlink()
        victim.symlink_to(res.out / "copy.json")
    else:
        victim.unlink()
    why = {"a link": "not a regular file", "removed": "missing"}.get(damage, "changed since it was written")

    again = run_lbtui(inputs, *FAST)
    assert again.code == 0, again.stderr
    assert redo_line(again.stderr).endswith(f"redoing 1 earlier result in {res.out}: 1 {why}")
    assert "finished: 3/3 units, 0 failed, 4 seqs" in again.stdout  # two sound results kept, one redone
    assert again.summary()["resume"] == {"kept_pieces": 2, "kept_sequences": 8, "redone": {why: 1}}
    assert len(rows_for(res.out, "f00.fa")) == 2 and not victim.is_symlink()
    assert victim.read_bytes() == good  # the sim task's result for f00.fa, again


def test_content_a_then_b_then_a_redoes_a(tmp_path, run_lbtui) -> None:
    inputs = tmp_path / "in"
    write_fasta(inputs / "a.fa", 4, seed=1)
    a_ids = expected_ids_sha256(inputs / "a.fa")
    a_text = (inputs / "a.fa").read_bytes()
    assert run_lbtui(inputs, *FAST).code == 0
    write_fasta(inputs / "b.fa", 1)
    os.replace(inputs / "b.fa", inputs / "a.fa")  # content B under the same name
    b = run_lbtui(inputs, *FAST)
    assert b.code == 0 and redo_line(b.stderr).endswith("1 of an input that changed since")
    (inputs / "a.fa").write_bytes(a_text)  # content A again: its old row points at B's output now
    again = run_lbtui(inputs, *FAST)
    assert again.code == 0, again.stderr
    assert "finished: 1/1 units, 0 failed, 4 seqs" in again.stdout
    result = json.loads((again.out / "units" / "a.fa.json").read_text())
    assert result["ids_sha256"] == a_ids


def test_a_row_pointing_outside_the_folder_or_without_a_checksum_is_not_kept(tmp_path, run_lbtui) -> None:
    inputs, res = first_run(tmp_path, run_lbtui, files=2)
    rows = res.manifest()
    outside = tmp_path / "outside.json"
    shutil.copy(res.out / rows[0]["output"], outside)
    rows[0]["output"] = os.path.relpath(outside, res.out)  # '../outside.json', bytes matching
    del rows[1]["output_sha256"], rows[1]["output_size"]  # as an older lbtui wrote it
    (res.out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = run_lbtui(inputs, *FAST)
    assert again.code == 0, again.stderr
    assert again.summary()["resume"]["redone"] == {"outside the run folder": 1, "no checksum recorded": 1}


def test_resume_counts_each_span_once_under_its_newest_reason(tmp_path) -> None:
    from virnucpro_bridge.runfiles import vouch
    from virnucpro_bridge.runfiles.outputs import Resume

    out = tmp_path / "out"
    (out / "units").mkdir(parents=True)
    (out / "units" / "a.json").write_text("new")
    sha, size = vouch.digest(out / "units" / "a.json")
    base = dict(file="a.fa", output="units/a.json", sha256="s", start=0, count=4, task="sim")
    rows = [ManifestEntry(**base, fingerprint="old", output_sha256=sha, output_size=size),  # older options
            ManifestEntry(**base, output_sha256="0" * 64, output_size=size)]  # newest: bytes changed
    (out / "manifest.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in rows))
    (out / "run.json").write_text(json.dumps({"format": FORMAT, "task": "sim"}))
    whole = Unit("a.fa", "/in/a.fa", "a.fa", 0, 1, 0, 4, 100, "s")
    resume = Resume(out, "sim", "")
    assert resume.done(whole) == []
    assert dict(resume.redo) == {vouch.CHANGED: 1}
    assert Resume(out, "sim", "old").done(whole) == [((0, 0), (4, 0))]  # the older row's bytes still match


def test_what_changed_names_the_options(tmp_path) -> None:
    from virnucpro_bridge.runfiles.outputs import STALE, what_changed

    (tmp_path / "run.json").write_text(json.dumps({"task": "virnucpro", "fingerprint_parts": {
        "chunk length": "500", "autocast": "on", "models": "/m"}}))
    parts = {"chunk length": "300", "autocast": "on", "models": "/m"}
    assert what_changed(tmp_path, "virnucpro", parts) == "chunk length 500 → 300"
    assert what_changed(tmp_path, "virnucpro", {**parts, "chunk length": "500"}) == "the model files changed"
    assert what_changed(tmp_path, "sim", {}) == "the last run here ran task 'virnucpro'"
    assert STALE == "made with other options or models"


def test_a_chunk_length_change_says_how_many_results_it_redoes_before_it_starts(tmp_path) -> None:
    import subprocess
    import sys

    from tests.integration.conftest import REPO

    models = tmp_path / "models"
    assert subprocess.run([sys.executable, "-m", "lbtui.cli", "models", "init-demo", str(models)], cwd=REPO,
                          capture_output=True, timeout=120).returncode == 0
    inputs = tmp_path / "in"
    write_fasta(inputs / "a.fa", 3, seq_len=700)
    write_fasta(inputs / "b.fa", 2, seq_len=700)

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lbtui.cli", "run", "--headless", "--gpus", "cpu:1",
                               "--models", str(models), "--out", str(tmp_path / "out"), *extra, str(inputs)],
                              cwd=REPO, capture_output=True, text=True, timeout=600)

    assert run("--chunk-length", "500").returncode == 0
    again = run("--chunk-length", "300")
    assert again.returncode == 0, again.stderr
    assert redo_line(again.stderr) == (f"lbtui: warning: resuming: redoing 2 earlier results in {tmp_path / 'out'}: "
                                       "2 made with other options or models (chunk length 500 → 300)")
    assert "finished: 2/2 units" in again.stdout
