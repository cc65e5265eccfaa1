from __future__ import annotations

import os
from pathlib import Path

import pytest

from virnucpro_bridge.errors import InputError, UsageError
from virnucpro_bridge.inputs import gzip_cache, plan, units


def fa(path: Path, *seqs: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


def test_discover_folder_recursive(tmp_path: Path) -> None:
    root = tmp_path / "inputs"
    fa(root / "b.fa", "AC")
    fa(root / "sub" / "c.FASTA", "AC")
    fa(root / "sub" / "d.fna.gz", "AC")
    (root / "notes.txt").write_text("x")
    (root / "e.fa.bak").write_text(">x\nA\n")
    got = units.discover([str(root)])
    assert [rel for _, rel in got] == ["b.fa", "sub/c.FASTA", "sub/d.fna.gz"]
    assert all(os.path.isabs(p) for p, _ in got)


def test_discover_one_file_and_explicit_suffix(tmp_path: Path) -> None:
    p = fa(tmp_path / "x" / "reads.txt", "AC")
    assert units.discover([str(p)]) == [(str(p), "reads.txt")]


def test_discover_common_parent_and_dedup(tmp_path: Path) -> None:
    a = fa(tmp_path / "one" / "a.fa", "AC")
    fa(tmp_path / "two" / "b.fa", "AC")
    os.symlink(a, tmp_path / "two" / "link.fa")
    got = units.discover([str(tmp_path / "one"), str(tmp_path / "two"), str(a)])
    assert [rel for _, rel in got] == ["one/a.fa", "two/b.fa"]


def test_discover_rel_stable_when_folder_grows(tmp_path: Path) -> None:
    fa(tmp_path / "sub" / "b.fa", "AC")
    assert [r for _, r in units.discover([str(tmp_path)])] == ["sub/b.fa"]


def test_discover_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="^nope: no such file or directory$"):
        units.discover(["nope"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    e, o = str(tmp_path / "empty"), str(tmp_path / "other")
    with pytest.raises(InputError) as err:
        units.discover([e, o])
    assert str(err.value) == f"no FASTA inputs found in: {e}, {o}"
    p = fa(tmp_path / "a.fa", "AC")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(InputError, match="a.fa: permission denied$"):
        units.discover([str(p)])


def test_plan_units_shards_and_empty(tmp_path: Path) -> None:
    big = fa(tmp_path / "big.fa", "A", "CC", "GGG", "TTTT", "AAAAA")
    small = fa(tmp_path / "small.fa", "ACGT", "AC")
    (tmp_path / "empty.fa").write_text("")
    files = units.discover([str(tmp_path)])
    got_plan = plan.plan_units(files, shard_size=2)
    got, warnings = got_plan.units, got_plan.warnings
    assert warnings == ["empty.fa: empty FASTA file, skipped"]
    assert [u.uid for u in got] == ["big.fa#0", "big.fa#1", "big.fa#2", "small.fa"]
    assert [(u.start, u.count, u.residues) for u in got] == [(0, 2, 3), (2, 2, 7), (4, 1, 5), (0, 2, 6)]
    assert [u.cost for u in got] == [3.0, 7.0, 5.0, 6.0]
    assert {u.shards for u in got[:3]} == {3} and got[3].shards == 1
    assert got[0].path == str(big) and got[3].path == str(small)
    assert got[0].sha256 == got[2].sha256 != got[3].sha256


def test_plan_units_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bad.fa").write_bytes(b"\x00\x01")
    with pytest.raises(InputError, match="binary data"):
        plan.plan_units([(str(tmp_path / "bad.fa"), "bad.fa")], 10)
    with pytest.raises(UsageError, match="--shard-size"):
        plan.plan_units([], 0)


def test_summarize_inputs(tmp_path: Path) -> None:
    d = tmp_path / "inputs"
    d.mkdir()
    assert units.summarize_inputs([str(d)]) == "inputs/"
    assert units.summarize_inputs([str(d) + "/"]) == "inputs/"
    assert units.summarize_inputs(["a.fa", "b.fa", "c.fa", "d.fa"]) == "a.fa +3 more"
    assert units.summarize_inputs(["x/a.fa"]) == "a.fa"


def test_units_carry_seek_points_and_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import pickle

    monkeypatch.setenv("LBTUI_CACHE_DIR", str(tmp_path / "cache"))
    plain = fa(tmp_path / "in" / "a.fa", "A", "CC", "GGG", "TTTT", "AAAAA")
    packed = tmp_path / "in" / "b.fa.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    got = plan.plan_units(units.discover([str(tmp_path / "in")]), shard_size=2,
                          cache_dir=gzip_cache.default_dir()).units
    offsets = [0, 13, 30]  # ">r0\nA\n>r1\nCC\n" is 13 bytes, then ">r2\nGGG\n>r3\nTTTT\n" 17
    assert [(u.start, u.seek.record, u.seek.offset) for u in got if u.seek] == \
        [(0, 0, 0), (2, 2, 13), (4, 4, 30)] * 2
    st = plain.stat()
    assert (got[0].seek.size, got[0].seek.mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert got[3].seek.cache.startswith(str(tmp_path / "cache" / "gzip"))
    assert offsets == [u.seek.offset for u in got[3:]]
    for u in got:
        back = pickle.loads(pickle.dumps(u))
        assert back == u and back.seek == u.seek
        assert [r.sequence for r in units.read_unit(back)] == \
            [r.sequence for r in units.fasta.iter_records(u.path, u.start, u.count)]


def test_unit_without_seek_reads_from_the_top(tmp_path: Path) -> None:
    p = fa(tmp_path / "a.fa", "A", "CC", "GGG")
    unit = units.Unit("a.fa", str(p), "a.fa", 0, 1, 1, 2, 5, "sha")
    assert unit.seek is None
    assert [r.id for r in units.read_unit(unit)] == ["r1", "r2"]
