from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from virnucpro_bridge.errors import InputError
from virnucpro_bridge.inputs import fasta

SAMPLE = b">a first one\r\nACGT\r\nac gt\r\n\r\n>b\n>c x y\nNN*-.\n"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_scan_counts_and_hash(tmp_path: Path) -> None:
    p = write(tmp_path, "a.fa", SAMPLE)
    s = fasta.scan(p, 10)
    assert (s.sequences, s.residues) == (3, 13)
    assert s.shards == (fasta.ShardStat(0, 3, 13, 0),)
    assert s.sha256 == hashlib.sha256(SAMPLE).hexdigest()
    assert s.path == str(p)


def test_scan_shards(tmp_path: Path) -> None:
    p = write(tmp_path, "a.fa", SAMPLE)
    # The last field is the byte offset of the shard's first record ("\r\n" counts 2).
    assert fasta.scan(p, 2).shards == (fasta.ShardStat(0, 2, 8, 0), fasta.ShardStat(2, 1, 5, 32))
    assert fasta.scan(p, 1).shards == (
        fasta.ShardStat(0, 1, 8, 0),
        fasta.ShardStat(1, 1, 0, 29),
        fasta.ShardStat(2, 1, 5, 32),
    )
    assert fasta.scan(p, 3).shards == (fasta.ShardStat(0, 3, 13, 0),)


def test_scan_gzip_hashes_compressed_bytes(tmp_path: Path) -> None:
    data = gzip.compress(SAMPLE)
    # Magic bytes decide, not the suffix.
    for name in ("a.fa.gz", "a.fa"):
        s = fasta.scan(write(tmp_path, name, data), 2)
        assert (s.sequences, s.residues) == (3, 13)
        assert s.sha256 == hashlib.sha256(data).hexdigest()


def test_scan_multi_member_gzip(tmp_path: Path) -> None:
    data = gzip.compress(b">a\nAC\n") + gzip.compress(b">b\nGGG\n")
    s = fasta.scan(write(tmp_path, "m.fa.gz", data), 10)
    assert (s.sequences, s.residues) == (2, 5)


@pytest.mark.parametrize("data", [b"", b"\n \n\t\n"])
def test_empty_file_is_valid(tmp_path: Path, data: bytes) -> None:
    s = fasta.scan(write(tmp_path, "e.fa", data), 5)
    assert (s.sequences, s.residues, s.shards) == (0, 0, ())


def test_bom_is_ignored(tmp_path: Path) -> None:
    p = write(tmp_path, "b.fa", b"\xef\xbb\xbf>x\nAC\n")
    assert fasta.scan(p, 5).sequences == 1
    assert list(fasta.iter_records(p))[0].id == "x"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x02garbage", "not a FASTA file (binary data)"),
        (b">x\nAC\xff\xfeGT\n", "not a FASTA file (binary data)"),
        (b">x\xff\nACGT\n", "line 1: header is not UTF-8 text (byte 0xff at column 3); save the file as UTF-8"),
        (b">a\nAC\n>caf\xe9 x\nAC\n",
         "line 3: header is not UTF-8 text (byte 0xe9 at column 5); save the file as UTF-8"),
        (b">x\nAC\x00GT\n", "not a FASTA file (binary data)"),
        (b"hello world\nthis is text\n", "not a FASTA file (no '>' header line)"),
        (b"\n\nACGT\n>x\nAC\n", "not a FASTA file (sequence before the first header, line 3)"),
        (b">x\nAC\n\n>y\nAC\nGG\nA1\n", "line 7: unexpected characters in sequence"),
        (b">x\nAC\n>y\nACGT\n\n\n\n\n> \nAC\n", "record with an empty id at line 9"),
        (">x\nACé\n".encode(), "line 2: unexpected characters in sequence"),
    ],
)
def test_scan_rejects(tmp_path: Path, data: bytes, message: str) -> None:
    p = write(tmp_path, "bad.fa", data)
    with pytest.raises(InputError) as err:
        fasta.scan(p, 5)
    assert str(err.value) == f"{p}: {message}"


def test_scan_corrupt_gzip(tmp_path: Path) -> None:
    data = gzip.compress(SAMPLE * 50)
    for bad in (data[:30], data[:10] + b"\xff" * 40 + data[50:]):
        p = write(tmp_path, "c.fa.gz", bad)
        with pytest.raises(InputError, match=r"c\.fa\.gz: corrupt gzip data$"):
            fasta.scan(p, 5)


def test_scan_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r": not a regular file \(a folder\)"):
        fasta.scan(tmp_path, 5)
    with pytest.raises(InputError, match=r"nope\.fa: cannot read: No such file"):
        fasta.scan(tmp_path / "nope.fa", 5)


def test_iter_records_parses(tmp_path: Path) -> None:
    p = write(tmp_path, "a.fa", SAMPLE)
    assert list(fasta.iter_records(p)) == [
        fasta.Record("a", "a first one", "ACGTacgt"),
        fasta.Record("b", "b", ""),
        fasta.Record("c", "c x y", "NN*-."),
    ]


def test_iter_records_range_and_gzip(tmp_path: Path) -> None:
    p = write(tmp_path, "a.fa.gz", gzip.compress(SAMPLE))
    assert [r.id for r in fasta.iter_records(p, 1)] == ["b", "c"]
    assert [r.id for r in fasta.iter_records(p, 1, 1)] == ["b"]
    assert [r.id for r in fasta.iter_records(p, 0, 0)] == []
    assert [r.id for r in fasta.iter_records(p, 3)] == []


def test_iter_records_stops_reading(tmp_path: Path) -> None:
    # Junk far past the requested range: decoding it would raise.
    filler = b">f\n" + b"A" * 60 + b"\n"
    p = write(tmp_path, "a.fa", b">a\nAC\n>b\nGG\n>c\nTT\n" + filler * 20000 + b"\xff" * 100)
    assert [r.sequence for r in fasta.iter_records(p, 1, 1)] == ["GG"]


def test_shards_match_iter_records(tmp_path: Path) -> None:
    lines = []
    for i in range(23):
        lines.append(f">s{i} d\n" + "ACGT" * i + "\n")
    p = write(tmp_path, "s.fa", "".join(lines).encode())
    s = fasta.scan(p, 5)
    assert [sh.count for sh in s.shards] == [5, 5, 5, 5, 3]
    for sh in s.shards:
        recs = list(fasta.iter_records(p, sh.start, sh.count))
        assert len(recs) == sh.count
        assert sum(len(r.sequence) for r in recs) == sh.residues
    assert sum(sh.residues for sh in s.shards) == s.residues


def test_open_text_plain_and_gzip(tmp_path: Path) -> None:
    for name, data in (("p.fa", SAMPLE), ("g.fa.gz", gzip.compress(SAMPLE))):
        with fasta.open_text(write(tmp_path, name, data)) as f:
            assert f.readline().startswith(">a first one")


def test_scan_indexes_every_stride_records(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + b"".join(b">r%d\n%s\n" % (i, b"AC" * i) for i in range(7))
    p = write(tmp_path, "i.fa", data)
    index = fasta.scan(p, 100, stride=3).index
    assert index is not None
    # Record 0 starts at the file's start (the BOM is skipped when read); offsets count it.
    starts = [0] + [data.index(b">r%d\n" % i) for i in (3, 6)]
    assert list(index.offsets) == starts == [0, 24, 63]
    assert list(index.residues) == [0, 6, 30]
    assert (index.records, index.total_residues, index.cache) == (7, 42, "")
    st = p.stat()
    assert (index.size, index.mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert [r.id for r in fasta.iter_records(p, 4, 2, index.seek_point(4))] == ["r4", "r5"]
    assert [r.id for r in fasta.iter_records(p, 0, 1, index.seek_point(0))] == ["r0"]
