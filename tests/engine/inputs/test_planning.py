"""Plan-time pieces sized in work, cut inside long records, and every part run exactly once.

Pure parts (sizes, factoring in residues) and the planner on real files; no processes."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virnucpro_bridge.inputs.plan import plan_units
from virnucpro_bridge.inputs.ranges import Coverage, OverlapError
from virnucpro_bridge.inputs.record_index import LONG_RECORD
from virnucpro_bridge.inputs.units import Unit, cut_unit, read_unit
from virnucpro_bridge.policy.planning import factoring_costs, floor_seconds, plan_bounds
from virnucpro_bridge.policy.sizes import AUTO, RECORDS, RESIDUES, SECONDS, Size, parse_size
from virnucpro_bridge.tasks.base import part_range
from virnucpro_bridge.tasks.virnucpro.chunking import chunk_count, chunk_starts

# -- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, amount, unit", [
    ("1000", 1000, RECORDS), ("50k", 50_000, RESIDUES), ("5M", 5_000_000, RESIDUES),
    ("5Mbp", 5_000_000, RESIDUES), ("200000bp", 200_000, RESIDUES), ("1.5G", 1.5e9, RESIDUES),
    ("2s", 2.0, SECONDS), ("750ms", 0.75, SECONDS), ("0.5s", 0.5, SECONDS),
])
def test_sizes_read_with_their_unit(text: str, amount: float, unit: str) -> None:
    assert parse_size(text) == Size(amount, unit)


@pytest.mark.parametrize("text, says", [
    ("2m", "ambiguous"), ("1.5", "whole number"), ("0", "more than zero"), ("12q", "unknown unit"),
    ("", "not a size"), ("auto", "not a size"), ("-3", "not a size"),
])
def test_bad_sizes_say_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_size(text)


def test_auto_only_where_allowed_and_bounds_convert_seconds() -> None:
    assert parse_size("auto", allow_auto=True).unit == AUTO
    b = plan_bounds(parse_size("5M"), parse_size("2s"), rate=10_000.0, fixed_cost_s=0.01)
    assert b["cap"] == 5e6 and b["floor"] == 20_000 and b["shard_size"] > 10**15
    b = plan_bounds(parse_size("300"), parse_size("auto", allow_auto=True), rate=10_000.0, fixed_cost_s=0.01)
    assert b["shard_size"] == 300 and math.isinf(b["cap"]) and b["floor"] == floor_seconds(0.01) * 10_000
    assert plan_bounds(parse_size("2s"), parse_size("40"), 100.0, 0)["floor_records"] == 40


# -- factoring in work ----------------------------------------------------------------------------


def test_factoring_hands_out_half_per_batch_in_shrinking_pieces() -> None:
    (pieces,) = factoring_costs([1_000_000.0], 4, floor=10_000.0)
    assert math.isclose(sum(pieces), 1_000_000.0)
    assert pieces[0] == 125_000.0  # remaining / (2 × 4 devices)
    assert all(a >= b for a, b in zip(pieces, pieces[1:-1], strict=False))  # shrinking (the last takes any crumb)
    assert min(pieces) >= 10_000.0 and len(pieces) >= 3 * 4  # a short tail on every device


def test_a_small_file_is_one_piece_and_the_cap_wins() -> None:
    assert factoring_costs([500.0, 50_000.0], 8, floor=1_000.0)[0] == [500.0]
    assert factoring_costs([25.0], 2, cap=10.0, floor=1_000.0) == [[10.0, 10.0, 5.0]]


@settings(max_examples=200, deadline=None)
@given(costs=st.lists(st.floats(0, 1e7), min_size=1, max_size=12), devices=st.integers(1, 16),
       cap=st.floats(1e4, 1e7), floor=st.floats(0, 1e6))
def test_work_sized_plans_stay_within_floor_and_cap(costs, devices, cap, floor) -> None:
    plan = factoring_costs(costs, devices, cap=cap, floor=floor)
    for cost, pieces in zip(costs, plan, strict=True):
        assert math.isclose(sum(pieces), cost, rel_tol=1e-9, abs_tol=1e-6)
        assert all(p <= cap * (1 + 1e-9) for p in pieces)
        if cost >= min(floor, cap):  # only the last piece may be a rest under the floor
            assert all(p >= min(floor, cap) * (1 - 1e-9) for p in pieces[:-1])


# -- the planner on files -------------------------------------------------------------------------


def write_fasta(path: Path, lengths: list[int], seed: int = 0) -> Path:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i, n in enumerate(lengths):
            seq = "".join(rng.choice("ACGT") for _ in range(n))
            fh.write(f">r{i}\n" + "".join(seq[j:j + 70] + "\n" for j in range(0, n, 70)))
    return path


def chunks_of(unit: Unit, length: int) -> list[tuple[str, int]]:
    """(record id, chunk) pairs a VirNucPro unit covers, as its run_unit walks them."""
    out = []
    for r, record in enumerate(read_unit(unit)):
        n = len(record.sequence)
        first, last = part_range(unit, r, max(1, chunk_count(n, length)))
        out += [(record.id, j) for j in range(first, min(last, len(chunk_starts(n, length))))]
    return out


def test_pieces_are_sized_in_work_not_records(tmp_path: Path) -> None:
    """Files of a few hundred short records are cut once a floor in residues allows it
    (a floor of 1,000 records never cut them)."""
    files = [(str(write_fasta(tmp_path / f"f{i}.fa", [250] * n, seed=i)), f"f{i}.fa")
             for i, n in enumerate((900, 300, 120))]
    plan = plan_units(files, devices=8, floor=5_000.0)
    assert len(plan.units) > 3
    for u in plan.units:
        assert u.residues >= 5_000 - 250 or u.whole  # whole records: within one record of the floor
    assert plan_units(files, devices=8, floor_records=1_000).units == plan.wholes  # the old rule: no cut


def test_long_records_are_cut_into_chunk_ranges_at_plan_time(tmp_path: Path) -> None:
    lengths = [300, 120_000, 700, 95_000, 40]
    fa = write_fasta(tmp_path / "g.fa", lengths)
    parts = lambda n: max(1, chunk_count(n, 500))  # noqa: E731 - VirNucPro's rule at 500 bp
    plan = plan_units([(str(fa), "g.fa")], devices=4, floor=4_000.0, parts=parts)
    long_pieces = [u for u in plan.units if u.part or u.end_part]
    assert len(long_pieces) >= 4  # records 1 and 3 are shared out
    assert plan.indexes[str(fa)].length(1) == 120_000 and plan.indexes[str(fa)].length(0) is None
    cov: Coverage[Unit] = Coverage(len(lengths))
    for u in plan.units:
        cov.add(u.begin, u.stop, u)
    assert cov.complete
    expected = [(f"r{i}", j) for i, n in enumerate(lengths) for j in range(chunk_count(n, 500))]
    assert [c for u in plan.units for c in chunks_of(u, 500)] == expected
    assert sum(u.sequences for u in plan.units) == len(lengths)  # a cut record counts once
    assert sum(u.residues for u in plan.units) == sum(lengths)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.one_of(st.integers(0, 900), st.integers(LONG_RECORD, 60_000)), min_size=1, max_size=8),
       chunk=st.sampled_from([300, 500]), devices=st.integers(1, 8), floor=st.floats(500, 20_000),
       seed=st.integers(0, 2**32 - 1), cuts=st.integers(0, 12))
def test_chunk_ranges_tile_every_chunk_once_in_order(tmp_path_factory, lengths, chunk, devices, floor,
                                                     seed, cuts) -> None:
    """Plan with parts, then cut units in flight at random positions (records or chunks):
    every chunk of every record is covered exactly once, in input order."""
    folder = tmp_path_factory.mktemp("tile")
    fa = write_fasta(folder / "t.fa", lengths, seed)
    parts = lambda n: max(1, chunk_count(n, chunk))  # noqa: E731
    plan = plan_units([(str(fa), "t.fa")], devices=devices, floor=floor, parts=parts)
    index = plan.indexes.get(str(fa))
    units, rng = list(plan.units), random.Random(seed)
    for _ in range(cuts):
        i = rng.randrange(len(units))
        u = units[i]
        inner = [(r, p) for r in range(u.start, u.end) for p in range(parts(lengths[r]))
                 if u.begin < (r, p) < u.stop]
        if inner:
            head, tail = cut_unit(u, rng.choice(inner), index, parts)
            assert head.residues + tail.residues == u.residues and head.stop == tail.begin
            units[i:i + 1] = [head, tail]
    cov: Coverage[Unit] = Coverage(len(lengths))
    for u in units:
        cov.add(u.begin, u.stop, u)
    assert cov.complete
    expected = [(f"r{i}", j) for i, n in enumerate(lengths) for j in range(chunk_count(n, chunk))]
    assert [c for u in units for c in chunks_of(u, chunk)] == expected
    assert sum(u.sequences for u in units) == len(lengths)


def test_no_split_cuts_fixed_pieces_in_residues_at_record_boundaries(tmp_path: Path) -> None:
    fa = write_fasta(tmp_path / "a.fa", [1_000] * 30 + [50_000])
    parts = lambda n: max(1, chunk_count(n, 500))  # noqa: E731
    plan = plan_units([(str(fa), "a.fa")], cap=10_000.0, parts=parts)  # devices=0: --no-split
    assert [u.count for u in plan.units] == [10, 10, 10, 1]
    assert not any(u.part or u.end_part for u in plan.units)


# -- span bookkeeping --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_any_cuts_and_completions_tile_the_file_once(n: int, seed: int) -> None:
    """Spans are cut anywhere (records or parts, in any order) and finish in any order:
    the finished spans tile the file exactly once, and a second claim raises."""
    rng = random.Random(seed)
    running = [((0, 0), (n, 0))]
    cov: Coverage[int] = Coverage(n)
    while running:
        i = rng.randrange(len(running))
        begin, stop = running[i]
        inner = [(r, p) for r in range(begin[0], stop[0] + 1) for p in range(4) if begin < (r, p) < stop]
        if inner and rng.random() < 0.5:
            at = rng.choice(inner)
            running[i] = (begin, at)
            running.append((at, stop))
        else:
            running.pop(i)
            assert not cov.complete
            cov.add(begin, stop, i)
            with pytest.raises(OverlapError):
                cov.add(begin, stop, i)
    assert cov.complete and cov.gaps() == []
    at = (0, 0)
    for b, s, _ in cov.pieces():
        assert b == at
        at = s
    assert at == (n, 0)


def test_coverage_refuses_overlaps_and_reports_gaps() -> None:
    cov: Coverage[str] = Coverage(100)
    for begin, stop, name in [((10, 0), (30, 0), "a"), ((50, 0), (100, 0), "c"), ((0, 0), (5, 0), "d"),
                              ((5, 3), (6, 0), "e")]:
        cov.add(begin, stop, name)
    with pytest.raises(OverlapError):
        cov.add((20, 0), (30, 0), "b")
    assert [p for _, _, p in cov.pieces()] == ["d", "e", "a", "c"]
    assert cov.gaps() == [((5, 0), (5, 3)), ((6, 0), (10, 0)), ((30, 0), (50, 0))]
