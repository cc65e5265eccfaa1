"""Reading a unit by seeking gives exactly what parsing from the top gives."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import pytest

from virnucpro_bridge.errors import InputError, UnitError
from virnucpro_bridge.inputs import fasta, gzip_cache
from virnucpro_bridge.inputs.plan import plan_units
from virnucpro_bridge.inputs.units import read_unit


def fasta_bytes(n: int, seed: int, newline: bytes = b"\n", trailing: bool = True) -> bytes:
    """Records with empty sequences, wrapped lines, blank lines and '>' inside headers."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        header = b">r%d" % i + (b" x>y a>b" if i % 3 == 0 else b"")
        length = rng.choice([0, 1, 7, 60, 150])
        seq = bytes(rng.choice(b"ACGTacgtN") for _ in range(length))
        width = rng.randint(1, 70)
        lines = [seq[j:j + width] for j in range(0, length, width)]
        if i % 5 == 0:
            lines.append(b"")  # a blank line inside a record
        out.append(newline.join([header, *lines]))
    data = newline.join(out)
    return data + newline if trailing else data


def write(path: Path, data: bytes, packed: bool) -> Path:
    path.write_bytes(gzip.compress(data) if packed else data)
    return path


def plan(path: Path, tmp_path: Path, shard: int, stride: int = 4):  # type: ignore[no-untyped-def]
    return plan_units([(str(path), path.name)], shard, cache_dir=str(tmp_path / "cache"),
                      stride=stride)


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize(("newline", "trailing"), [(b"\n", True), (b"\r\n", True), (b"\n", False),
                                                   (b"\r\n", False)])
def test_units_and_random_ranges_match_skip_reads(
    tmp_path: Path, packed: bool, newline: bytes, trailing: bool
) -> None:
    p = write(tmp_path / "in.fa", fasta_bytes(97, 1, newline, trailing), packed)
    got = plan(p, tmp_path, shard=10)
    everything = list(fasta.iter_records(p))
    assert len(everything) == 97
    assert [r.description for r in everything[:1]] == ["r0 x>y a>b"]
    assert sum(u.count for u in got.units) == 97
    for u in got.units:
        assert u.seek is not None and u.seek.record == u.start
        assert list(read_unit(u)) == everything[u.start:u.start + u.count]
    index = got.indexes[str(p)]
    rng = random.Random(3)
    for _ in range(60):
        start = rng.randrange(97)
        count = rng.randint(0, 97 - start)
        seek = index.seek_point(start)
        assert start - seek.record < index.stride
        assert list(fasta.iter_records(p, start, count, seek)) == everything[start:start + count]


def test_gzip_copy_is_private_and_seekable(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    p = write(inputs / "in.fa.gz", fasta_bytes(40, 2), packed=True)
    got = plan(p, tmp_path, shard=7)
    index = got.indexes[str(p)]
    assert os.listdir(inputs) == ["in.fa.gz"]  # nothing written next to the input
    assert Path(index.cache).parent == tmp_path / "cache"
    with gzip.open(index.cache, "rb") as copy:  # the copy is the FASTA text itself
        assert copy.read() == fasta_bytes(40, 2)
    assert all(u.seek is not None and u.seek.cache == index.cache for u in got.units)


def test_gzip_without_copy_falls_back_to_parsing(tmp_path: Path) -> None:
    p = write(tmp_path / "in.fa.gz", fasta_bytes(30, 4), packed=True)
    everything = list(fasta.iter_records(p))
    got = plan(p, tmp_path, shard=8)
    os.unlink(got.indexes[str(p)].cache)  # pruned or wiped while the run went on
    for u in got.units:
        assert list(read_unit(u)) == everything[u.start:u.start + u.count]
    nocache = plan_units([(str(p), "in.fa.gz")], 8, cache_dir=None)
    assert all(u.seek.cache == "" for u in nocache.units)  # no copy: reads parse from the top
    assert [list(read_unit(u)) for u in nocache.units] == [list(read_unit(u)) for u in got.units]


def test_unwritable_cache_folder_is_not_an_error(tmp_path: Path) -> None:
    p = write(tmp_path / "in.fa.gz", fasta_bytes(12, 5), packed=True)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    got = plan_units([(str(p), "in.fa.gz")], 5, cache_dir=str(blocker / "cache"))
    assert all(u.seek.cache == "" for u in got.units)
    assert sum(len(list(read_unit(u))) for u in got.units) == 12


@pytest.mark.parametrize("packed", [False, True])
def test_changed_file_is_one_clear_error(tmp_path: Path, packed: bool) -> None:
    p = write(tmp_path / "in.fa", fasta_bytes(30, 6), packed)
    got = plan(p, tmp_path, shard=10)
    write(p, fasta_bytes(31, 6), packed)  # another size
    with pytest.raises(UnitError, match=r"in\.fa: changed since it was scanned"):
        list(read_unit(got.units[1]))
    data = fasta_bytes(30, 6)
    write(p, data, packed)
    stamp = got.units[1].seek
    assert stamp is not None
    os.utime(p, ns=(stamp.mtime_ns, stamp.mtime_ns + 1))  # same size, touched
    with pytest.raises(UnitError, match="changed since it was scanned"):
        list(read_unit(got.units[1]))


def test_same_size_and_mtime_but_no_record_at_offset(tmp_path: Path) -> None:
    data = fasta_bytes(30, 7)
    p = write(tmp_path / "in.fa", data, packed=False)
    unit = plan(p, tmp_path, shard=10).units[1]
    assert unit.seek is not None
    st = p.stat()
    shifted = data[1:] + b"A"  # same length: every offset now lands one byte late
    p.write_bytes(shifted)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(UnitError, match="no record at the saved offset"):
        list(read_unit(unit))


def test_file_changing_during_scan_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = write(tmp_path / "in.fa", fasta_bytes(10, 8), packed=False)
    real = fasta._count

    def count_then_append(*args):  # type: ignore[no-untyped-def]
        result = real(*args)
        with open(p, "ab") as f:  # another program appends while the scan runs
            f.write(b">late\nACGT\n")
        return result

    monkeypatch.setattr(fasta, "_count", count_then_append)
    with pytest.raises(InputError, match=r"in\.fa: changed while it was being scanned$"):
        fasta.scan(p, 5)


def test_seek_point_past_start_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path / "in.fa", fasta_bytes(10, 9), packed=False)
    index = plan(p, tmp_path, shard=10, stride=4).indexes[str(p)]
    with pytest.raises(ValueError, match="past start"):
        list(fasta.iter_records(p, 3, 2, index.seek_point(4)))


def test_member_size_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gzip_cache, "MEMBER_SIZE", 100)  # many members, records across them
    data = fasta_bytes(60, 10)
    p = write(tmp_path / "in.fa.gz", data, packed=True)
    got = plan_units([(str(p), "in.fa.gz")], 6, cache_dir=str(tmp_path / "c"), stride=2)
    index = got.indexes[str(p)]
    assert index.member_size == 100 and len(index.members) == -(-len(data) // 100)
    everything = list(fasta.iter_records(p))
    for u in got.units:
        assert list(read_unit(u)) == everything[u.start:u.start + u.count]


def test_old_copies_are_pruned_fresh_ones_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    old = cache / ("0" * 64 + gzip_cache.SUFFIX)
    fresh = cache / ("1" * 64 + gzip_cache.SUFFIX)
    other = cache / "notes.txt"  # not a copy: never touched
    for f in (old, fresh, other):
        f.write_bytes(b"x")
    long_ago = 1_000_000_000
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    p = write(tmp_path / "in.fa.gz", fasta_bytes(5, 11), packed=True)
    copy = plan(p, tmp_path, shard=5).indexes[str(p)].cache
    assert sorted(os.listdir(cache)) == sorted([Path(copy).name, fresh.name, other.name])
