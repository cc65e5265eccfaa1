"""The per-file merge accounts for every chunk of every sequence of its file, and verify_file checks a merge."""

from __future__ import annotations

import random
import shutil

import pytest

from virnucpro_bridge.tasks.virnucpro.chunking import chunk_record
from virnucpro_bridge.tasks.virnucpro.results import HEADER, HIGHEST_NAME, PER_SEQUENCE_NAME, RESULTS_NAME
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence
from virnucpro_bridge.tasks.virnucpro.task import results_dir
from virnucpro_bridge.tasks.virnucpro.translation import identify_frames

from .conftest import write_fasta
from .test_task import units_of


@pytest.fixture
def merged_run(cpu_task, tmp_path):
    """A file of coding reads (every one has frames) and one without any stop-free frame,
    in three units, run and merged: (pieces with their result paths, the run folder)."""
    rng = random.Random(2)
    stops = next(s for s in ("".join(rng.choice("ACGT") for _ in range(480)) for _ in range(100))
                 if not any(identify_frames(cid, c) for cid, c in chunk_record("stops", s, 500)))
    records = [(f"r{i}", coding_sequence(rng, 600)) for i in range(6)] + [("stops", stops), ("empty", "")]
    (tmp_path / "in").mkdir()
    path = write_fasta(tmp_path / "in" / "m.fa", records)
    out = tmp_path / "out"
    done = []
    for unit in units_of(path, 3):
        output = out / cpu_task.output_path(unit)
        cpu_task.run_unit(unit, output, lambda n: None)
        done.append((unit, output))
    cpu_task.finalize_file("m.fa", done, out)
    return done, out


def test_a_sound_merge_verifies(cpu_task, merged_run) -> None:
    done, out = merged_run
    assert cpu_task.verify_file("m.fa", done, out) == []


def test_an_emptied_unit_result_fails_the_merge_and_leaves_the_results_as_they_were(cpu_task, merged_run) -> None:
    done, out = merged_run
    folder = results_dir(out, "m.fa")
    before = {name: (folder / name).read_bytes() for name in (RESULTS_NAME, HIGHEST_NAME, PER_SEQUENCE_NAME)}
    done[1][1].write_text(HEADER)  # the middle unit's rows gone: records 4-6
    why = ("results for 3 sequence(s) incomplete: 'r3' (record 4: 0 of 2 chunks), 'r4' (record 5: 0 of 2 chunks), "
           "'r5' (record 6: 0 of 2 chunks); a unit result is not what its unit wrote")
    with pytest.raises(ValueError) as err:
        cpu_task.finalize_file("m.fa", done, out)
    assert str(err.value) == f"m.fa: {why}"
    assert {name: (folder / name).read_bytes() for name in before} == before
    assert ("m.fa", why) in cpu_task.verify_file("m.fa", done, out)


def test_rows_of_another_file_fail_the_merge(cpu_task, merged_run, tmp_path) -> None:
    done, out = merged_run
    other = write_fasta(tmp_path / "o.fa", [("alien", coding_sequence(random.Random(1), 600))])
    unit = units_of(other, 10)[0]
    cpu_task.run_unit(unit, tmp_path / "alien.tsv", lambda n: None)
    with open(done[0][1], "a") as fh:
        fh.write((tmp_path / "alien.tsv").read_text().split("\n", 1)[1])
    with pytest.raises(ValueError, match=r"result rows for 1 sequence\(s\) the file does not hold"):
        cpu_task.finalize_file("m.fa", done, out)


def test_verify_file_names_a_merged_file_that_differs_or_is_missing(cpu_task, merged_run) -> None:
    done, out = merged_run
    folder = results_dir(out, "m.fa")
    with open(folder / RESULTS_NAME, "a") as fh:
        fh.write("extra\tvirus\t0.1\t0.9\n")
    (folder / HIGHEST_NAME).unlink()
    assert cpu_task.verify_file("m.fa", done, out) == [
        ("results/m.fa/prediction_results.txt", "differs from what its unit results merge into"),
        ("results/m.fa/prediction_results_highestscore.csv", "missing")]
    shutil.rmtree(folder)
    done[0][1].write_text("garbage\n")
    [(where, why)] = cpu_task.verify_file("m.fa", done, out)
    assert where == "m.fa" and why.startswith("its unit results cannot be merged: ") and "not a VirNucPro" in why
