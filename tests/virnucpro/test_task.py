"""The task in-process: setup, run_unit, finalize_file; determinism; bad input."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from virnucpro_bridge.errors import UnitError
from virnucpro_bridge.inputs.fasta import scan
from virnucpro_bridge.inputs.units import Unit
from virnucpro_bridge.tasks import load_task
from virnucpro_bridge.tasks.virnucpro import VirNucProTask
from virnucpro_bridge.tasks.virnucpro import task as task_module
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence
from virnucpro_bridge.tasks.virnucpro.task import results_dir

from .conftest import read_fasta, write_fasta

DEMO_DATA = Path(__file__).resolve().parents[2] / "lbtui" / "demo_data"


def units_of(path: Path, shard_size: int, rel: str | None = None) -> list[Unit]:
    s = scan(path, shard_size)
    rel = rel or path.name
    n = len(s.shards)
    return [Unit(f"{rel}#{i}" if n > 1 else rel, str(path), rel, i, n, sh.start, sh.count,
                 sh.residues, s.sha256) for i, sh in enumerate(s.shards)]


def run_file(task, path: Path, out: Path, shard_size: int = 10_000) -> dict[str, bytes]:
    """Every unit of ``path`` (in reverse order, as stealing might), then finalize."""
    units = units_of(path, shard_size)
    done = []
    for unit in reversed(units):
        output = out / task.output_path(unit)
        assert task.run_unit(unit, output, lambda n: None) == unit.count
        done.append((unit, output))
    written = task.finalize_file(units[0].rel, done, out)
    return {p.name: p.read_bytes() for p in written}


def test_registry_resolves_the_task():
    assert load_task("virnucpro") is VirNucProTask


def test_check_flags_demo_models(demo_models):
    notices = VirNucProTask({"models": str(demo_models), "chunk_length": 300}).check()
    assert len(notices) == 1 and "MEANINGLESS" in notices[0] and str(demo_models) in notices[0]


def test_output_locations(cpu_task, ref):
    one = units_of(ref / "test_with_orfs.fa", 10)[0]
    assert cpu_task.output_path(one) == "units/test_with_orfs.fa.tsv"
    sharded = units_of(DEMO_DATA / "tiny_sample.fa", 3)
    assert cpu_task.output_path(sharded[2]) == f"units/tiny_sample.fa.r{sharded[2].start}-{sharded[2].end}.tsv"
    assert results_dir(Path("/o"), "sub/reads.fa.gz") == Path("/o/results/sub/reads.fa.gz")
    assert results_dir(Path("/o"), "reads.fa") != results_dir(Path("/o"), "reads.fasta")


def test_reference_input_end_to_end(cpu_task, ref, tmp_path):
    files = run_file(cpu_task, ref / "test_with_orfs.fa", tmp_path)
    lines = files["prediction_results.txt"].decode().splitlines()
    assert lines[0] == "Sequence_ID\tPrediction\tscore1\tscore2"
    ids = [line.split("\t")[0] for line in lines[1:]]
    assert ids == [rid for rid, _ in read_fasta(ref / "test_with_orfs_identified_protein.faa")]
    for line in lines[1:]:
        _, label, s1, s2 = line.split("\t")
        assert label == ("virus" if float(s2) > float(s1) else "others")
    assert files["prediction_results_highestscore.csv"].decode().splitlines() == [
        "Modified_ID\tIs_Virus", *[f"synthetic_seq_{i}_chunk_1\t{v}" for i, v in
                                   ((1, _virus(lines, "synthetic_seq_1")), (2, _virus(lines, "synthetic_seq_2")))]]


def test_sequences_without_a_stop_free_frame_are_listed_and_counted(cpu_task, ref, tmp_path):
    """Upstream's test_sequences_small.fa keeps no frame at all: upstream's two files are
    header-only; the per-sequence file lists every sequence as NA, and the task counts them."""
    cpu_task.file_counts.clear()
    files = run_file(cpu_task, ref / "test_sequences_small.fa", tmp_path)
    assert files["prediction_results.txt"] == b"Sequence_ID\tPrediction\tscore1\tscore2\n"
    assert files["prediction_results_highestscore.csv"] == b"Modified_ID\tIs_Virus\n"
    rows = files["prediction_per_sequence.tsv"].decode().splitlines()[1:]
    records = read_fasta(ref / "test_sequences_small.fa")
    assert [r.split("\t")[0] for r in rows] == [rid for rid, _ in records]
    assert all(r.endswith("\t0\t0\tNA\tNA") for r in rows)
    assert cpu_task.summary() == {"results_dir": "results", "sequences_classified": 0,
                                  "sequences_without_frames": len(records)}
    files = run_file(cpu_task, ref / "test_with_orfs.fa", tmp_path / "orfs")
    assert [r.split("\t")[-1] for r in files["prediction_per_sequence.tsv"].decode().splitlines()[1:]] \
        == [_virus(files["prediction_results.txt"].decode().splitlines(), f"synthetic_seq_{i}") for i in (1, 2)]
    assert cpu_task.summary()["sequences_classified"] == 2


def _virus(lines, prefix):
    rows = [line.split("\t") for line in lines[1:] if line.startswith(prefix + "_")]
    return str(max(float(r[3]) for r in rows) >= max(float(r[2]) for r in rows))


def test_identical_bytes_across_runs_shardings_and_threads(cpu_task, tmp_path):
    path = DEMO_DATA / "hospital_swab.fa.gz"
    reference = run_file(cpu_task, path, tmp_path / "a")
    assert reference["prediction_results.txt"].count(b"\n") > 50
    assert run_file(cpu_task, path, tmp_path / "b") == reference
    assert run_file(cpu_task, path, tmp_path / "c", shard_size=37) == reference
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert run_file(cpu_task, path, tmp_path / "d", shard_size=150) == reference
    finally:
        torch.set_num_threads(threads)


def test_progress_counts_sequences(cpu_task, tmp_path, monkeypatch):
    monkeypatch.setattr(task_module, "BLOCK_FRAMES", 8)
    rng = random.Random(5)
    path = write_fasta(tmp_path / "many.fa", [(f"r{i}", coding_sequence(rng, 900)) for i in range(30)])
    seen = []
    unit = units_of(path, 10_000)[0]
    cpu_task.run_unit(unit, tmp_path / "u.tsv", seen.append)
    assert seen == sorted(seen) and seen[-1] == (30, 0) and len(seen) > 3  # positions (records, chunk)


def test_a_long_record_reports_chunks_and_its_chunk_ranges_add_up_to_it(cpu_task, tmp_path, monkeypatch):
    """Progress inside one record (so it is never taken for a stall), and chunk ranges of
    it, run as their own units in any order, give byte for byte the whole record's results."""
    monkeypatch.setattr(task_module, "BLOCK_FRAMES", 8)
    rng = random.Random(9)
    path = write_fasta(tmp_path / "g.fa", [("a", coding_sequence(rng, 700)), ("genome", coding_sequence(rng, 6_100)),
                                           ("b", coding_sequence(rng, 400))])
    whole = units_of(path, 10_000)[0]
    assert cpu_task.parts(6_100) == 13  # ceil(6100 / 500) chunks
    seen = []
    cpu_task.run_unit(whole, tmp_path / "whole.tsv", seen.append)
    assert any(r == 1 and p > 0 for r, p in seen)  # reports inside record 1
    reference = run_file(cpu_task, path, tmp_path / "ref")
    # [a, genome chunks 0-4) [genome chunks 4-9) [genome chunks 9-13, b)
    pieces = [replace(whole, uid="g.fa#0", count=2, end_part=4),
              replace(whole, uid="g.fa#1", start=1, count=1, part=4, end_part=9),
              replace(whole, uid="g.fa#2", start=1, count=2, part=9)]
    done = []
    for unit in reversed(pieces):
        output = tmp_path / "cut" / cpu_task.output_path(unit)
        assert cpu_task.run_unit(unit, output, lambda n: None) == unit.sequences
        done.append((unit, output))
    assert [u.sequences for u in pieces] == [2, 0, 1]
    assert cpu_task.output_path(pieces[1]) == "units/g.fa.r1p4-1p9.tsv"
    written = cpu_task.finalize_file("g.fa", done, tmp_path / "cut")
    assert {p.name: p.read_bytes() for p in written} == reference


def test_chunk_length_300(demo_models, ref, tmp_path):
    from virnucpro_bridge.hardware.devices import DeviceSpec

    task = VirNucProTask({"models": str(demo_models), "chunk_length": 300})
    task.setup(DeviceSpec(0, "cpu", "cpu0", 1.0))
    files = run_file(task, ref / "test_fixed_500bp.fa", tmp_path)
    ids = [line.split("\t")[0] for line in files["prediction_results.txt"].decode().splitlines()[1:]]
    assert ids and all("_chunk_" in i for i in ids)
    assert any(i.startswith("fixed_500bp_seq1_chunk_2") for i in ids)  # 500 bp -> two 300 bp chunks


@pytest.mark.parametrize("records, message", [
    ([("a", "ACGTACGT"), ("b", "ACGT"), ("a", "GGGG")], "bad.fa: duplicate sequence id 'a'"),
    ([("a", "ACGTACGT"), ("p", "MKVLEEFIQPLLK")], "bad.fa: record 'p' is not a nucleotide sequence"),
])
def test_bad_unit_input_is_one_clear_error(cpu_task, tmp_path, records, message):
    path = write_fasta(tmp_path / "bad.fa", records)
    unit = units_of(path, 10_000)[0]
    output = tmp_path / "out.tsv"
    with pytest.raises(UnitError) as info:
        cpu_task.run_unit(unit, output, lambda n: None)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not output.exists()


def test_fingerprint_follows_chunk_length_autocast_and_models(demo_models, tmp_path):
    import shutil

    def fingerprint(models: Path, **options) -> str:
        task = VirNucProTask({"models": str(models), "chunk_length": 500, **options})
        task.check()
        return task.fingerprint()

    base = fingerprint(demo_models)
    assert fingerprint(demo_models) == base  # stable
    assert fingerprint(demo_models, chunk_length=300) != base
    assert fingerprint(demo_models, autocast=False) != base
    assert fingerprint(demo_models, toks_per_batch=64) == base  # a speed knob, not an output one
    other = tmp_path / "models"
    shutil.copytree(demo_models, other)
    assert fingerprint(other) != base  # other model files: earlier results are not reused
