"""Splitting work inside files: the cut policy, the plan, range bookkeeping, and the
coordinator's cut protocol (no processes: a fake clock and direct calls)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.coordinator.coordinator import Coordinator
from virnucpro_bridge.hardware.devices import parse_gpus
from virnucpro_bridge.inputs.ranges import Coverage, OverlapError, keep_tiling
from virnucpro_bridge.inputs.units import Unit, plan_units, read_unit
from virnucpro_bridge.policy.planning import factoring_pieces, fixed_pieces
from virnucpro_bridge.policy.stealing import split_at
from virnucpro_bridge.runfiles.journal import event_record
from virnucpro_bridge.runfiles.outputs import ManifestEntry, Resume

# -- the cut policy ------------------------------------------------------------------


def uniform(a: int, b: int) -> float:
    return float(max(0, b - a))


def test_split_at_balances_by_rates() -> None:
    assert split_at(0, 10_000, 1.0, 1.0, uniform, 100, latency_s=0) == 5_000
    assert split_at(0, 10_000, 1.0, 3.0, uniform, 100, latency_s=0) == 2_500  # a 3× thief takes 3/4
    assert split_at(4_000, 10_000, 1.0, 1.0, uniform, 100, latency_s=0) == 7_000


def test_split_at_refuses_small_or_pointless_cuts() -> None:
    assert split_at(9_000, 10_000, 1.0, 1.0, uniform, 600) is None  # under 2 × min left
    assert split_at(0, 10_000, 1.0, 1.0, uniform, 100, latency_s=1e9) is None  # thief never in time
    assert split_at(0, 10_000, 0.0, 1.0, uniform, 100) is None  # stalled victim: not cut, restarted
    assert split_at(0, 10_000, 1.0, 0.0, uniform, 100) is None


@settings(max_examples=300, deadline=None)
@given(done=st.integers(0, 5_000), count=st.integers(1, 10_000), rv=st.floats(0.01, 100),
       rt=st.floats(0.01, 100), min_records=st.integers(1, 2_000), latency=st.floats(0, 50),
       weights=st.lists(st.integers(1, 50), min_size=8, max_size=8))
def test_split_at_properties(done, count, rv, rt, min_records, latency, weights) -> None:
    done = min(done, count)
    cost = lambda a, b: float(sum(weights[i % 8] for i in range(a, b)))  # noqa: E731 - uneven records
    k = split_at(done, count, rv, rt, cost, min_records, latency)
    if k is None:
        return
    assert done + min_records <= k <= count - min_records  # both parts keep min_records to do
    thief_done = latency + cost(k, count) / rt
    assert thief_done < cost(done, count) / rv  # worth it: the thief beats the victim alone
    if k > done + min_records:  # balanced: one record earlier, the thief would end later
        assert latency + cost(k - 1, count) / rt > cost(done, k - 1) / rv


# -- the plan ------------------------------------------------------------------------------


def test_factoring_shrinks_pieces_toward_the_end() -> None:
    (pieces,) = factoring_pieces([50_000], [50_000 * 500.0], 4, shard_size=10_000, min_records=1_000)
    assert sum(pieces) == 50_000
    assert pieces[0] == 6_250  # remaining / (2 × 4 devices)
    assert pieces == sorted(pieces, reverse=True)[: len(pieces)] or pieces[-1] <= pieces[0]
    assert min(pieces) >= 1_000 and len(pieces) >= 3 * 4  # a short tail on every device


def test_shard_size_caps_and_fixed_pieces() -> None:
    (pieces,) = factoring_pieces([25], [25 * 100.0], 2, shard_size=10, min_records=1_000)
    assert pieces == [10, 10, 5]  # the upper bound wins over the minimum
    assert fixed_pieces(25, 10) == [10, 10, 5]


@settings(max_examples=200, deadline=None)
@given(files=st.lists(st.integers(1, 30_000), min_size=1, max_size=12), devices=st.integers(1, 16),
       shard=st.integers(1, 20_000), min_records=st.integers(1, 3_000))
def test_factoring_pieces_cover_each_file_within_bounds(files, devices, shard, min_records) -> None:
    costs = [n * 300.0 for n in files]
    plan = factoring_pieces(files, costs, devices, shard_size=shard, min_records=min_records)
    for n, pieces in zip(files, plan):
        assert sum(pieces) == n and all(1 <= p <= shard for p in pieces)
        if n >= min_records:  # only the last piece may be a remainder under the minimum
            assert all(p >= min(min_records, shard) for p in pieces[:-1])


# -- record-range bookkeeping -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 500), seed=st.integers(0, 2**32 - 1))
def test_any_cuts_and_completions_tile_the_file_once(n: int, seed: int) -> None:
    """Units are cut anywhere, in any order, and finish in any order: the finished
    ranges tile the file exactly once, and a second claim on a record raises."""
    rng = random.Random(seed)
    running = [(0, n)]
    cov: Coverage[int] = Coverage(n)
    while running:
        i = rng.randrange(len(running))
        start, end = running[i]
        if end - start > 1 and rng.random() < 0.5:  # a cut: head keeps running, tail is a new unit
            k = rng.randrange(start + 1, end)
            running[i] = (start, k)
            running.append((k, end))
        else:
            running.pop(i)
            cov.add(start, end - start, i)
            with pytest.raises(OverlapError):
                cov.add(start, end - start, i)
    assert cov.complete and cov.gaps() == []
    at = 0
    for s, c, _ in cov.pieces():
        assert s == at
        at += c
    assert at == n


def test_keep_tiling_drops_overlaps_and_reports_gaps() -> None:
    cov = keep_tiling(100, [(10, 20, "a"), (20, 10, "b"), (50, 50, "c"), (0, 5, "d")])
    assert [p for _, _, p in cov.pieces()] == ["d", "a", "c"]
    assert cov.gaps() == [(5, 5), (30, 20)]


# -- resume by ranges ----------------------------------------------------------------------------


def write_fasta(path: Path, n: int) -> Path:
    path.write_text("".join(f">r{i}\n{'ACGT' * (10 + i % 7)}\n" for i in range(n)))
    return path


def test_resume_plans_only_the_uncovered_ranges(tmp_path: Path) -> None:
    fa = write_fasta(tmp_path / "a.fa", 400)
    whole = plan_units([(str(fa), "a.fa")], 10_000).wholes[0]
    out = tmp_path / "out"
    (out / "units").mkdir(parents=True)
    rows = []
    for start, count, name in ((0, 100, "x"), (150, 50, "y"), (120, 100, "overlaps-y")):
        (out / "units" / name).write_text("done")
        rows.append(ManifestEntry("a.fa", 0, 0, "sim0", count, 1.0, False, 1, f"units/{name}",
                                  sha256=whole.sha256, start=start, count=count, task="sim"))
    (out / "manifest.jsonl").write_text("".join(
        __import__("json").dumps(r.__dict__) + "\n" for r in rows))
    resume = Resume(out, "sim")
    plan = plan_units([(str(fa), "a.fa")], 10_000, devices=2, min_records=30, done=resume.done)
    # latest rows first: [120, 220) is kept, so [150, 200) (inside it) is dropped
    assert [(s, c) for s, c, _ in resume.kept["a.fa"].pieces()] == [(0, 100), (120, 100)]
    covered = sorted((u.start, u.count) for u in plan.units)
    assert sum(c for _, c in covered) == 400 - 200
    cov = keep_tiling(400, [(s, c, None) for s, c in [(0, 100), (120, 100)] + covered])
    assert cov.complete  # the new units fill exactly the gaps
    everything = [r.id for r in read_unit(whole)]
    for u in plan.units:
        assert [r.id for r in read_unit(u)] == everything[u.start:u.end]
    assert Resume(out, "sim", "other-fingerprint").done(whole) == []


# -- the coordinator's cut protocol -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def coordinator(tmp_path: Path, n: int = 2_000, **kw) -> tuple[Coordinator, Clock, Unit]:
    fa = write_fasta(tmp_path / "big.fa", n)
    plan = plan_units([(str(fa), "big.fa")], 100_000)
    clock = Clock()
    coord = Coordinator(parse_gpus("sim:1,1"), plan.units, clock=clock, splitting=True, split_min=100,
                        indexes=plan.indexes, **kw)
    for b in coord.books:
        coord.device_ready(b.spec.index)
    return coord, clock, plan.units[0]


def start_on_victim(coord: Coordinator, unit: Unit) -> None:
    coord.books[0].push(unit)
    coord.units[:] = [unit]
    assert coord.next_unit(0).unit == unit


def test_cut_confirmed_gives_the_tail_to_the_thief(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    assert coord.next_unit(1) is None  # nothing queued to steal
    victim, cut = coord.find_cut(1)
    assert victim == 0 and cut.uid == unit.uid and 0 < cut.at < unit.count
    assert coord.find_cut(1) is None  # one pending cut per thief
    clock.t += 0.1
    thief, flight = coord.cut_answered(0, unit.uid, 1_200)
    assert thief == 1 and (flight.unit.start, flight.unit.count) == (1_200, 800)
    assert flight.unit.split_from == unit.uid and flight.stolen
    head = coord.books[0].in_flight.unit
    assert (head.start, head.count, head.split_from) == (0, 1_200, unit.uid)
    assert coord.splits_total == 1 and coord.books[0].split_out == 1 and coord.books[1].split_in == 1
    assert coord.steals_total == 0
    event = [e for e in coord.events if e.kind == S.EV_SPLIT][-1]
    assert event.message == "SIM1 ⇶ split big.fa [1,200–2,000) from SIM0"
    assert event_record(event)["thief"] == 1 and event_record(event)["victim"] == 0
    coord.unit_done(0, 1_200, 1.0)
    coord.unit_done(1, 800, 1.0)
    assert coord.settle() == 0
    summary = coord.close_out(0)
    assert summary["splits"] == 1 and summary["files_not_run"] == 0
    assert summary["devices"][1]["split_in"] == 1 and summary["sequences"] == 2_000
    assert coord.snapshot().splits_total == 1


def test_done_racing_the_cut_changes_nothing(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    _, cut = coord.find_cut(1)
    coord.unit_done(0, unit.count, 1.0)  # the victim finished before it read the Cut
    assert coord.cut_answered(0, unit.uid, None) is None  # its late answer: too late
    assert coord.splits_total == 0 and coord.units == [unit] and coord.cuts == {}
    assert coord.settle() == 0


def test_refused_cut_frees_the_thief(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.find_cut(1)
    assert coord.cut_answered(0, unit.uid, None) is None
    assert coord.books[0].in_flight.unit == unit and coord.splits_total == 0
    assert coord.find_cut(1) is not None  # it may ask again


def test_victim_dying_after_the_cut_redoes_only_its_head(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.find_cut(1)
    _, tail = coord.cut_answered(0, unit.uid, 1_000)
    coord.device_died(0, "killed by SIGKILL")
    queued = [u for b in coord.books for u in b.queue]
    assert [(u.start, u.count) for u in queued] == [(0, 1_000)]  # the head, for the thief's queue
    assert (tail.unit.start, tail.unit.count) == (1_000, 1_000)
    coord.unit_done(1, 1_000, 1.0)
    head = coord.next_unit(1)
    assert (head.unit.start, head.unit.count) == (0, 1_000)
    coord.unit_done(1, 1_000, 1.0)
    assert coord.settle() == 0 and coord.sequences_done == 2_000


def test_tail_goes_to_a_queue_when_the_thief_is_busy_or_the_run_stops(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.find_cut(1)
    coord.pause(1)  # the thief is paused while the answer travels
    assert coord.cut_answered(0, unit.uid, 1_500) is None
    assert [(u.start, u.count) for u in coord.books[0].queue] == [(1_500, 500)]
    coord.stop()
    assert coord.settle() == 130  # the tail never ran: the run is interrupted, resume redoes it


def test_no_cut_without_splitting_or_stealing(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.set_stealing(False)
    assert coord.find_cut(1) is None
    coord.set_stealing(True)
    coord.splitting = False
    assert coord.find_cut(1) is None
