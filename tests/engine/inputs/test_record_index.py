"""RecordIndex lookups and cut_unit: any cut reads exactly the parent's records, in order."""

from __future__ import annotations

import gzip
import tempfile
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from virnucpro_bridge.inputs import fasta
from virnucpro_bridge.inputs.plan import plan_units
from virnucpro_bridge.inputs.record_index import RecordIndex, SeekPoint
from virnucpro_bridge.inputs.units import Unit, cut_unit, read_unit

RECORDS = st.lists(
    st.tuples(
        st.text("ACGTN", max_size=40),  # sequence (may be empty)
        st.integers(1, 12),  # wrap width
        st.booleans(),  # '>' inside the header
    ),
    min_size=2,
    max_size=40,
)


def render(records: list[tuple[str, int, bool]], crlf: bool, trailing: bool) -> bytes:
    nl = "\r\n" if crlf else "\n"
    out = []
    for i, (seq, width, gt) in enumerate(records):
        lines = [f">s{i}" + (" a>b" if gt else "")]
        lines += [seq[j:j + width] for j in range(0, len(seq), width)]
        out.append(nl.join(lines))
    text = nl.join(out) + (nl if trailing else "")
    return text.encode()


def index_of(offsets: list[int], records: int, stride: int) -> RecordIndex:
    return RecordIndex("/f.fa", records, 10 * records, 1, 1, array("Q", offsets),
                       array("Q", [10 * i * stride for i in range(len(offsets))]), stride)


def test_offset_at_and_seek_point() -> None:
    index = index_of([0, 100, 250], records=9, stride=4)
    assert index.offset_at(0) == (0, 0)
    assert index.offset_at(3) == (0, 0)
    assert index.offset_at(4) == (4, 100)
    assert index.offset_at(8) == (8, 250)
    assert index.seek_point(6) == SeekPoint(4, 100, 1, 1)
    for bad in (-1, 9):
        with pytest.raises(IndexError):
            index.offset_at(bad)
    assert index.nbytes == 6 * 8


def test_residues_before_interpolates_and_ends_at_total() -> None:
    index = index_of([0, 100, 250], records=9, stride=4)  # 10 residues a record
    assert [index.residues_before(r) for r in (0, 2, 4, 8, 9)] == [0, 20, 40, 80, 90]


def test_index_size_is_checked() -> None:
    with pytest.raises(ValueError, match="2 entries, 3 expected"):
        index_of([0, 100], records=9, stride=4)


def test_split_without_index_keeps_parent_seek_and_prorates() -> None:
    seek = SeekPoint(10, 500, 1, 1)
    unit = Unit("a.fa#1", "/a.fa", "a.fa", 1, 3, 10, 10, 100, "sha", seek)
    head, tail = cut_unit(unit, (13, 0), None)
    assert (head.start, head.count, tail.start, tail.count) == (10, 3, 13, 7)
    assert (head.residues, tail.residues) == (30, 70)
    assert head.seek == tail.seek == seek
    assert (head.uid, tail.uid) == ("a.fa[10:13]", "a.fa[13:20]")
    for k in (10, 20):
        with pytest.raises(ValueError, match="outside"):
            cut_unit(unit, (k, 0), None)


# database=None: no .hypothesis folder in the work tree; failures print their example.
@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    records=RECORDS,
    crlf=st.booleans(),
    trailing=st.booleans(),
    packed=st.booleans(),
    stride=st.integers(1, 5),
    shard=st.integers(1, 50),
    cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=6),
)
def test_any_split_reads_the_parent_records_in_order(
    records: list[tuple[str, int, bool]], crlf: bool, trailing: bool, packed: bool,
    stride: int, shard: int, cuts: list[tuple[int, int]],
) -> None:
    data = render(records, crlf, trailing)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("in.fa.gz" if packed else "in.fa")
        path.write_bytes(gzip.compress(data) if packed else data)
        plan = plan_units([(str(path), path.name)], shard, cache_dir=str(Path(tmp) / "cache"),
                          stride=stride)
        index = plan.indexes.get(str(path))  # None when the units know as much (one stretch, plain)
        everything = list(fasta.iter_records(path))
        assert len(everything) == len(records)
        units = list(plan.units)
        for which, at in cuts:  # cut a chosen unit at a chosen inner record, again and again
            i = which % len(units)
            unit = units[i]
            if unit.count < 2:
                continue
            k = unit.start + 1 + at % (unit.count - 1)
            head, tail = cut_unit(unit, (k, 0), index)
            assert head.residues + tail.residues == unit.residues
            assert head.residues >= 0 and tail.residues >= 0
            assert head.seek == unit.seek
            assert tail.seek is not None and 0 <= tail.start - tail.seek.record < stride
            units[i:i + 1] = [head, tail]
        assert [r for u in units for r in read_unit(u)] == everything
        assert sum(u.residues for u in units) == sum(len(r.sequence) for r in everything)
