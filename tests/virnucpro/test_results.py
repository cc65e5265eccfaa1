"""Result files: upstream's layout, float32 printing, merging shards in order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from virnucpro_bridge.tasks.virnucpro.results import (
    HEADER,
    format_rows,
    format_score,
    highest_scores,
    merge,
    write_unit,
)


def example_rows(ref):
    lines = (ref / "example_prediction_results.txt").read_text().splitlines(keepends=True)
    return lines[0], lines[1:]


def test_float32_printing_matches_upstream():
    assert format_score(np.float32(0.12100612)) == "0.12100612"
    # upstream prints softmax output from torch as numpy float32
    probs = torch.softmax(torch.tensor([[2.0, -1.0], [0.0, 20.0]]), dim=1).numpy()
    assert [format_score(v) for v in probs[0]] == [str(v) for v in probs[0]]
    assert format_score(probs[1][0]) == str(np.float32(probs[1][0]))
    assert "e-" in format_score(probs[1][0])  # tiny values print in scientific notation, as upstream


def test_rows_reproduce_the_example_file_byte_for_byte(ref, tmp_path):
    header, rows = example_rows(ref)
    assert header == HEADER
    ids = [r.split("\t")[0] for r in rows]
    probs = np.array([[np.float32(r.split("\t")[2]), np.float32(r.split("\t")[3])] for r in rows])
    unit = tmp_path / "u.tsv"
    write_unit(unit, format_rows(ids, probs))
    assert unit.read_bytes() == (ref / "example_prediction_results.txt").read_bytes()
    written = merge([unit], tmp_path / "merged", "example.fa")
    assert written[0].read_bytes() == (ref / "example_prediction_results.txt").read_bytes()
    assert written[1].read_bytes() == (ref / "example_prediction_results_highestscore.csv").read_bytes()


def test_highest_score_groups_by_chunk_sorted_like_pandas(tmp_path):
    rows = [
        "b_chunk_1F1\tothers\t0.6\t0.4\n",
        "a_chunk_2R1\tothers\t0.9\t0.1\n",
        "a_chunk_2F3\tvirus\t0.3\t0.7\n",  # max score2 0.7 < max score1 0.9 -> False
        "a_chunk_10F1\tvirus\t0.5\t0.5\n",  # tie -> True (>=)
    ]
    assert highest_scores(rows)["a_chunk_2"] == (0.9, 0.7)
    unit = tmp_path / "u.tsv"
    unit.write_text(HEADER + "".join(rows))
    _, highest = merge([unit], tmp_path / "out", "x.fa")
    assert highest.read_text() == ("Modified_ID\tIs_Virus\na_chunk_10\tTrue\n"
                                   "a_chunk_2\tFalse\nb_chunk_1\tFalse\n")


def test_merge_keeps_shard_order_and_rejects_cross_shard_duplicates(tmp_path):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text(HEADER + "s1_chunk_1F1\tvirus\t0.25\t0.75\n")
    b.write_text(HEADER + "s2_chunk_1R2\tothers\t0.75\t0.25\n")
    results, _ = merge([a, b], tmp_path / "m", "x.fa")
    assert results.read_text().splitlines()[1:] == ["s1_chunk_1F1\tvirus\t0.25\t0.75",
                                                    "s2_chunk_1R2\tothers\t0.75\t0.25"]
    with pytest.raises(ValueError, match="x.fa: duplicate sequence id 's1'"):
        merge([a, b, a], tmp_path / "m2", "x.fa")


def test_empty_unit_gives_header_only_files(tmp_path):
    unit = tmp_path / "u.tsv"
    write_unit(unit, [])
    results, highest = merge([unit], tmp_path / "m", "x.fa")
    assert results.read_text() == HEADER
    assert highest.read_text() == "Modified_ID\tIs_Virus\n"
