"""Result files: upstream's layout, float32 printing, merging shards in order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from virnucpro_bridge.tasks.virnucpro.results import (
    HEADER,
    PER_SEQUENCE_HEADER,
    Counts,
    format_rows,
    format_score,
    merge,
    no_frame_row,
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
    written, _ = merge([unit], tmp_path / "merged", "example.fa")
    assert written[0].read_bytes() == (ref / "example_prediction_results.txt").read_bytes()
    assert written[1].read_bytes() == (ref / "example_prediction_results_highestscore.csv").read_bytes()


def test_highest_score_groups_by_chunk_sorted_like_pandas(tmp_path):
    rows = [
        "b_chunk_1F1\tothers\t0.6\t0.4\n",
        "a_chunk_2R1\tothers\t0.9\t0.1\n",
        "a_chunk_2F3\tvirus\t0.3\t0.7\n",  # max score2 0.7 < max score1 0.9 -> False
        "a_chunk_10F1\tvirus\t0.5\t0.5\n",  # tie -> True (>=)
    ]
    unit = tmp_path / "u.tsv"
    unit.write_text(HEADER + "".join(rows))
    (_, highest, _), _ = merge([unit], tmp_path / "out", "x.fa")
    assert highest.read_text() == ("Modified_ID\tIs_Virus\na_chunk_10\tTrue\n"
                                   "a_chunk_2\tFalse\nb_chunk_1\tFalse\n")


def test_merge_keeps_shard_order_and_rejects_cross_shard_duplicates(tmp_path):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text(HEADER + "s1_chunk_1F1\tvirus\t0.25\t0.75\n")
    b.write_text(HEADER + "s2_chunk_1R2\tothers\t0.75\t0.25\n")
    (results, _, _), _ = merge([a, b], tmp_path / "m", "x.fa")
    assert results.read_text().splitlines()[1:] == ["s1_chunk_1F1\tvirus\t0.25\t0.75",
                                                    "s2_chunk_1R2\tothers\t0.75\t0.25"]
    with pytest.raises(ValueError, match="x.fa: duplicate sequence id 's1'"):
        merge([a, b, a], tmp_path / "m2", "x.fa")


def test_empty_unit_gives_header_only_files(tmp_path):
    unit = tmp_path / "u.tsv"
    write_unit(unit, [])
    (results, highest, per_sequence), counts = merge([unit], tmp_path / "m", "x.fa")
    assert results.read_text() == HEADER
    assert highest.read_text() == "Modified_ID\tIs_Virus\n"
    assert per_sequence.read_text() == PER_SEQUENCE_HEADER
    assert counts == Counts(0, 0)


def test_one_call_per_sequence_and_sequences_without_frames_counted(tmp_path):
    """Upstream's two files leave chunks without a stop-free frame out; the third file has every
    input sequence, in input order, with the documented rule."""
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    write_unit(a, [
        "s1_chunk_1F1\tvirus\t0.25\t0.75\n", "s1_chunk_1R2\tothers\t0.75\t0.25\n",  # chunk 1: virus
        no_frame_row("s1_chunk_2"),  # s1's second chunk kept no frame
        "s1_chunk_3F2\tothers\t0.875\t0.125\n",  # chunk 3: others -> 1 of 2 scored chunks: a tie, virus
        no_frame_row("no_frames_chunk_1"), no_frame_row("no_frames_chunk_2"),
    ])
    write_unit(b, [  # a later shard: the same record's rest, then another
        "s2_chunk_1F1\tothers\t0.625\t0.375\n", "s2_chunk_2F1\tothers\t0.5625\t0.4375\n",
        "s2_chunk_3F1\tvirus\t0.4375\t0.5625\n",  # 1 of 3: others
    ])
    (results, highest, per_sequence), counts = merge([a, b], tmp_path / "m", "x.fa")
    assert "no_frames" not in results.read_text() + highest.read_text()
    assert "\t\t" not in results.read_text()
    assert per_sequence.read_text().splitlines() == [
        "Sequence_ID\tChunks\tChunks_with_frames\tVirus_chunks\tMax_score2\tIs_Virus",
        "s1\t3\t2\t1\t0.75\tTrue",
        "no_frames\t2\t0\t0\tNA\tNA",
        "s2\t3\t3\t1\t0.5625\tFalse",
    ]
    assert counts == Counts(classified=2, without_frames=1)


def test_a_record_id_holding_the_chunk_mark_is_kept_whole(tmp_path):
    unit = tmp_path / "u.tsv"
    write_unit(unit, ["contig_chunk_7_chunk_1F1\tvirus\t0.25\t0.75\n"])
    (_, _, per_sequence), _ = merge([unit], tmp_path / "m", "x.fa")
    assert per_sequence.read_text().splitlines()[1].startswith("contig_chunk_7\t1\t1\t1\t")
