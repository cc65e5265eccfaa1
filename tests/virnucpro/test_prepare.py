"""Chunking, six-frame selection and ``lbtui prepare`` against upstream's outputs."""

from __future__ import annotations

import math
import random

import pytest

from lbtui.cli import main
from virnucpro_bridge.tasks.virnucpro.chunking import chunk_record, chunk_starts
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence
from virnucpro_bridge.tasks.virnucpro.translation import identify_frames, six_frames

from .conftest import read_fasta, write_fasta

REF_CASES = ["test_with_orfs", "test_fixed_500bp", "test_sequences_small"]
OUTPUTS = ["_chunked{L}.fa", "_identified_nucleotide.fa", "_identified_protein.faa"]


def oracle_chunks(seq: str, length: int) -> list[str]:
    """Upstream's chunking as the reference README words it, step by step."""
    n = len(seq)
    k = math.ceil(n / length)
    r = k * length - n
    base = int(r / k)
    extra = r - base * (k - 1)
    shifts = [base + 1] * extra + [base] * (k - 1 - extra) + [0]
    chunks, shift_sum = [], 0
    for j, a in enumerate(range(0, n, length)):
        start = a - shift_sum
        chunks.append(seq[start:start + length])
        shift_sum += shifts[j]
    return chunks


def oracle_prepare(records, length):
    chunked, nuc, prot = [], [], []
    for rid, seq in records:
        if not seq:
            continue
        for j, chunk in enumerate(oracle_chunks(seq, length), 1):
            cid = f"{rid}_chunk_{j}"
            chunked.append((cid, chunk))
            for f in identify_frames(cid, chunk):
                nuc.append((f.id, f.nucleotide))
                prot.append((f.id, f.protein))
    return chunked, nuc, prot


def run_prepare(path, out, length):
    assert main(["prepare", str(path), "--length", str(length), "--out", str(out)]) == 0
    stem = path.name.split(".")[0]
    return [read_fasta(out / (stem + s.format(L=length))) for s in OUTPUTS]


@pytest.mark.parametrize("case", REF_CASES)
def test_prepare_matches_upstream_reference(case, ref, tmp_path):
    ours = run_prepare(ref / f"{case}.fa", tmp_path, 500)
    for produced, suffix in zip(ours, OUTPUTS, strict=True):
        assert produced == read_fasta(ref / (case + suffix.format(L=500))), suffix


def test_reference_chunk_file_is_byte_identical(ref, tmp_path):
    run_prepare(ref / "test_sequences_small.fa", tmp_path, 500)
    assert (tmp_path / "test_sequences_small_chunked500.fa").read_bytes() == \
        (ref / "test_sequences_small_chunked500.fa").read_bytes()


@pytest.mark.parametrize("n, length, expected", [
    (1000, 500, [(0, 500), (500, 1000)]),  # exact multiple: no overlap
    (500, 500, [(0, 500)]),
    (120, 500, [(0, 120)]),  # shorter than L: one short chunk
    (501, 500, [(0, 500), (250, 501)]),  # r=499: base 249, extra 250 -> last chunk 251 long
    (1001, 500, [(0, 500), (333, 833), (666, 1001)]),  # shifts 167, 167
    (700, 300, [(0, 300), (233, 533), (466, 700)]),  # r=200: base 66, extra 68 -> shifts 67, 67
    (0, 500, []),  # empty record: no chunk (upstream divides by zero)
])
def test_chunk_spans_worked_examples(n, length, expected):
    seq = "".join(random.Random(n).choice("ACGT") for _ in range(n))
    got = [(s, min(s + length, n)) for s in chunk_starts(n, length)]
    assert got == expected
    assert [c for _, c in chunk_record("r", seq, length)] == [seq[a:b] for a, b in expected]


@pytest.mark.parametrize("length", [300, 500])
def test_chunking_matches_oracle_for_many_lengths(length):
    rng = random.Random(length)
    for n in list(range(1, 2 * length + 3)) + [rng.randint(1, 20 * length) for _ in range(200)]:
        seq = "".join(rng.choice("ACGT") for _ in range(n))
        assert [c for _, c in chunk_record("r", seq, length)] == oracle_chunks(seq, length), n


def test_translation_rules():
    # Codons with ambiguity letters are skipped, not translated to X; stops become '*'.
    assert six_frames("ATGNNNAAATAG")[0] == "MK*"
    frames = identify_frames("c", "atgnnnaaa")  # upper-cased first
    f1 = next(f for f in frames if f.id == "cF1")
    assert f1.protein == "MK"
    assert f1.nucleotide == "ATGNNNA"  # seq[0 : 1 + 3p]: upstream's 3p + 1 slice
    # reverse complement maps only ACGT; R1 of "TTTCAT" reads ATGAAA
    r1 = next(f for f in identify_frames("c", "TTTCAT") if f.id == "cR1")
    assert (r1.protein, r1.nucleotide) == ("MK", "ATGAAA")
    assert identify_frames("c", "TAATAATAA") == [f for f in identify_frames("c", "TAATAATAA")
                                                  if "*" not in f.protein]
    assert identify_frames("c", "NN") == []  # empty proteins are never kept


@pytest.mark.parametrize("length", [300, 500])
def test_prepare_own_inputs(tmp_path, length):
    rng = random.Random(1)
    records = [
        ("lower", coding_sequence(rng, 900).lower()),
        ("iupac", "".join(rng.choice("ACGTNRYKMSWBDHV") for _ in range(650))),
        ("mixed_case", coding_sequence(rng, 2 * length).swapcase()[:length] + coding_sequence(rng, 40)),
        ("short", coding_sequence(rng, 100)),
        ("exact", coding_sequence(rng, 3 * length)),
        ("empty", ""),
        ("orf_rich", coding_sequence(rng, 4 * length + 7)),
        ("random", "".join(rng.choice("ACGT") for _ in range(777))),
    ]
    plain = write_fasta(tmp_path / "plain.fa", records, wrap=60)
    crlf = write_fasta(tmp_path / "crlf.fasta", records, wrap=71, newline="\r\n")
    gz = write_fasta(tmp_path / "packed.fa.gz", records, wrap=50)
    one_line = write_fasta(tmp_path / "oneline.fna", records, wrap=10**6)
    expected = oracle_prepare(records, length)
    assert any(expected[1]), "the inputs must keep some frames"
    for path in (plain, crlf, gz, one_line):
        out = tmp_path / ("out_" + path.name.replace(".", "_"))
        assert run_prepare(path, out, length) == list(expected), path.name
    chunked = dict(expected[0])
    assert chunked["lower_chunk_1"].islower()  # case kept in the chunk file
    assert "empty_chunk_1" not in chunked


def test_prepare_rejects_bad_input(tmp_path, capsys):
    protein = write_fasta(tmp_path / "prot.fa", [("p1", "MKVLEEFIQPLLK")])
    out = tmp_path / "out"
    assert main(["prepare", str(protein), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "prot.fa" in err and "not a nucleotide sequence" in err and "Traceback" not in err
    dup = write_fasta(tmp_path / "dup.fa", [("a", "ACGT"), ("b", "ACGT"), ("a", "ACGT")])
    assert main(["prepare", str(dup), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "dup.fa" in err and "duplicate sequence id 'a'" in err
    assert not (out / "dup_chunked500.fa").exists()  # nothing half-written


def test_prepare_is_safe(tmp_path, capsys):
    """--out is required and never the input's folder; existing files need --force; 300 or 500 only."""
    (tmp_path / "in").mkdir()
    reads = write_fasta(tmp_path / "in" / "reads.fa", [("r1", "ATGAAACCC" * 40)])

    def assert_usage(argv, text):
        return main(argv) == 2 and text in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_:
        main(["prepare", str(reads)])
    assert exit_.value.code == 2 and "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", str(reads), "--length", "400", "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2 and "invalid choice: 400" in capsys.readouterr().err
    assert assert_usage(["prepare", str(reads), "--out", str(tmp_path / "in")], "the input's own folder")
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["reads.fa"]
    out = tmp_path / "prepared"
    assert main(["prepare", str(reads), "--out", str(out)]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "reads_chunked500.fa").write_text(">mine\nACGT\n")
    assert assert_usage(["prepare", str(reads), "--out", str(out)], "reads_chunked500.fa: already exists")
    assert (out / "reads_chunked500.fa").read_text() == ">mine\nACGT\n"  # untouched
    assert main(["prepare", str(reads), "--out", str(out), "--force"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_six_frames_equal_the_codon_by_codon_translation():
    """The vectorised translation against the reference: every case, ambiguity letters,
    short chunks, and a sequence outside ASCII (which takes the reference path)."""
    import random

    from virnucpro_bridge.tasks.virnucpro.translation import reverse_complement, six_frames, translate

    rng = random.Random(4)
    cases = ["", "A", "AC", "ACG", "ACGT", "NNN", "ATGNNNTAA", "ÄTGAAA"]
    cases += ["".join(rng.choice("ACGTACGTACGTNRYKMSWacgtn-") for _ in range(rng.randint(0, 700)))
              for _ in range(300)]
    for case in cases:
        upper = case.upper()
        reverse = reverse_complement(upper)
        expected = [translate(upper, f) for f in range(3)] + [translate(reverse, f) for f in range(3)]
        assert six_frames(upper) == expected, case
