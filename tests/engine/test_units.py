from __future__ import annotations

import os
from pathlib import Path

import pytest

from virnucpro_bridge import units
from virnucpro_bridge.errors import InputError, UsageError


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


def test_build_units_shards_and_empty(tmp_path: Path) -> None:
    big = fa(tmp_path / "big.fa", "A", "CC", "GGG", "TTTT", "AAAAA")
    small = fa(tmp_path / "small.fa", "ACGT", "AC")
    (tmp_path / "empty.fa").write_text("")
    files = units.discover([str(tmp_path)])
    got, warnings = units.build_units(files, shard_size=2)
    assert warnings == ["empty.fa: empty FASTA file, skipped"]
    assert [u.uid for u in got] == ["big.fa#0", "big.fa#1", "big.fa#2", "small.fa"]
    assert [(u.start, u.count, u.residues) for u in got] == [(0, 2, 3), (2, 2, 7), (4, 1, 5), (0, 2, 6)]
    assert [u.cost for u in got] == [3.0, 7.0, 5.0, 6.0]
    assert {u.shards for u in got[:3]} == {3} and got[3].shards == 1
    assert got[0].path == str(big) and got[3].path == str(small)
    assert got[0].sha256 == got[2].sha256 != got[3].sha256


def test_build_units_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bad.fa").write_bytes(b"\x00\x01")
    with pytest.raises(InputError, match="binary data"):
        units.build_units([(str(tmp_path / "bad.fa"), "bad.fa")], 10)
    with pytest.raises(UsageError, match="--shard-size"):
        units.build_units([], 0)


def test_summarize_inputs(tmp_path: Path) -> None:
    d = tmp_path / "inputs"
    d.mkdir()
    assert units.summarize_inputs([str(d)]) == "inputs/"
    assert units.summarize_inputs([str(d) + "/"]) == "inputs/"
    assert units.summarize_inputs(["a.fa", "b.fa", "c.fa", "d.fa"]) == "a.fa +3 more"
    assert units.summarize_inputs(["x/a.fa"]) == "a.fa"
