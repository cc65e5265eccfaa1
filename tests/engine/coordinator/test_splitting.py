"""Splitting work in flight: the cut policy, the coordinator's cut protocol in positions,
floors in work, the worker's answer, resume by spans, and stalls inside a long record
(no processes: a fake clock and direct calls)."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virnucpro_bridge.backends.local.worker import UnitControl
from virnucpro_bridge.control import snapshot as S
from virnucpro_bridge.coordinator.coordinator import Coordinator
from virnucpro_bridge.coordinator.messages import Cut, CutAt
from virnucpro_bridge.hardware.devices import parse_gpus
from virnucpro_bridge.inputs.plan import plan_units
from virnucpro_bridge.inputs.ranges import Coverage
from virnucpro_bridge.inputs.units import Unit, read_unit
from virnucpro_bridge.policy.sizes import parse_size
from virnucpro_bridge.policy.stealing import cut_cost
from virnucpro_bridge.runfiles.folder_format import FORMAT
from virnucpro_bridge.runfiles.journal import event_record
from virnucpro_bridge.runfiles.manifest import ManifestEntry
from virnucpro_bridge.runfiles.outputs import Resume
from virnucpro_bridge.runfiles.vouch import digest
from virnucpro_bridge.tasks.sim import SimTask

from .test_coordinator import options

# -- the cut policy, in work ---------------------------------------------------------------


def test_cut_cost_balances_by_rates() -> None:
    assert cut_cost(0, 10_000, 1.0, 1.0, latency_s=0) == 5_000
    assert cut_cost(0, 10_000, 1.0, 3.0, latency_s=0) == pytest.approx(2_500)  # a 3× thief takes 3/4
    assert cut_cost(4_000, 10_000, 1.0, 1.0, latency_s=0) == pytest.approx(7_000)
    assert cut_cost(0, 10_000, 1.0, 1.0, latency_s=0, victim_after_s=2_000) == pytest.approx(4_000)  # its queue counts


def test_cut_cost_refuses_small_or_pointless_cuts() -> None:
    assert cut_cost(9_000, 10_000, 1.0, 1.0, head_min=600, tail_min=600) is None  # under both floors
    assert cut_cost(0, 10_000, 1.0, 1.0, latency_s=1e9) is None  # thief never in time
    assert cut_cost(0, 10_000, 0.0, 1.0) is None  # stalled victim: not cut, restarted
    assert cut_cost(0, 10_000, 1.0, 0.0) is None


@settings(max_examples=300, deadline=None)
@given(done=st.floats(0, 5_000), total=st.floats(1, 10_000), rv=st.floats(0.01, 100),
       rt=st.floats(0.01, 100), head=st.floats(0, 3_000), tail=st.floats(0, 3_000),
       latency=st.floats(0, 50), after=st.floats(0, 100))
def test_cut_cost_properties(done, total, rv, rt, head, tail, latency, after) -> None:
    c = cut_cost(done, total, rv, rt, head_min=head, tail_min=tail, latency_s=latency, victim_after_s=after)
    if c is None:
        return
    assert done + head - 1e-6 <= c <= total - tail + 1e-6  # both shares keep their floor
    assert latency + (total - c) / rt < (total - done) / rv + after  # worth it: the thief beats the victim alone


# -- the coordinator's cut protocol ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def write_fasta(path: Path, lengths: list[int]) -> Path:
    rng = random.Random(path.name)
    path.write_text("".join(f">r{i}\n{''.join(rng.choice('ACGT') for _ in range(n))}\n"
                            for i, n in enumerate(lengths)))
    return path


SIM = SimTask({})


def coordinator(tmp_path: Path, lengths: list[int] | None = None, **kw) -> tuple[Coordinator, Clock, Unit]:
    fa = write_fasta(tmp_path / "big.fa", lengths or [40 + i % 7 for i in range(2_000)])
    plan = plan_units([(str(fa), "big.fa")], 100_000)
    clock = Clock()
    kw.setdefault("split_min", "100")
    coord = Coordinator(parse_gpus("sim:1,1"), plan.units, options(kw), clock=clock, splittable=True,
                        indexes=plan.indexes, parts=SIM.parts, **kw)
    for b in coord.books:
        coord.device_ready(b.spec.index)
    return coord, clock, plan.units[0]


def start_on_victim(coord: Coordinator, unit: Unit) -> None:
    coord.books[0].push(unit)
    coord.counts.units_total = 1
    assert coord.next_unit(0).unit == unit


def test_cut_confirmed_gives_the_tail_to_the_thief(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    assert coord.next_unit(1) is None  # nothing queued to steal
    victim, cut = coord.find_cut(1)
    assert victim == 0 and cut.uid == unit.uid and (0, 0) < cut.at <= cut.until < (unit.count, 0)
    assert cut.at[1] == 0  # short records: cut at a record start
    assert coord.find_cut(1) is None  # one pending cut per thief
    clock.t += 0.1
    thief, flight = coord.cut_answered(0, unit.uid, (1_200, 0))
    assert thief == 1 and (flight.unit.start, flight.unit.count) == (1_200, 800)
    assert flight.unit.split_from == unit.uid and flight.stolen
    head = coord.books[0].in_flight.unit
    assert (head.start, head.count, head.split_from) == (0, 1_200, unit.uid)
    assert coord.counts.splits_total == 1 and coord.books[0].split_out == 1 and coord.books[1].split_in == 1
    assert coord.log.steals_total == 0
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


def test_one_long_record_is_cut_between_its_parts(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path, [200, 400_000, 300], split_min="10k")
    start_on_victim(coord, unit)
    clock.t += 1.0  # 50,000 residues done at the prior rate: inside record 1
    victim, cut = coord.find_cut(1)
    assert cut.at[0] == 1 and cut.at[1] > 0  # a part of the long record
    thief, flight = coord.cut_answered(0, unit.uid, cut.at)
    head, tail = coord.books[0].in_flight.unit, flight.unit
    assert head.stop == tail.begin == cut.at and tail.stop == (3, 0)
    assert head.sequences + tail.sequences == 3 and tail.uid == f"big.fa[1p{cut.at[1]}:3]"
    assert f"[1p{cut.at[1]}–3)" in [e for e in coord.events if e.kind == S.EV_SPLIT][-1].message
    # equal speeds: what is left is shared about evenly (the thief pays the cut's latency)
    assert abs((head.residues - 50_000) - tail.residues) < 0.05 * unit.residues


def test_the_floor_is_work_not_records(tmp_path: Path) -> None:
    """A unit of a few hundred records is cut once it holds more work than two floors."""
    lengths = [250] * 400  # 100,000 residues: 2 s at the prior 50,000/s
    coord, clock, unit = coordinator(tmp_path, lengths, split_min="0.5s")
    start_on_victim(coord, unit)
    assert coord.find_cut(1) is not None  # 1,000 records would have refused: 400 < 2 × 1,000
    (tmp_path / "again").mkdir()
    coord, clock, unit = coordinator(tmp_path / "again", lengths, split_min="1.2s")
    start_on_victim(coord, unit)
    assert coord.find_cut(1) is None  # 2 s left < 1.2 s head + 1.2 s tail


def test_auto_floor_follows_the_measured_fixed_cost(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path, split_min="auto", unit_overhead_s=0.001)
    assert coord.splitting.split_min == parse_size("auto", allow_auto=True)
    # in flight: 10x, not the plan's 100x
    assert coord.splitting.cut_floor(50_000.0) == pytest.approx(10 * 0.001 * 50_000)
    coord.splitting.note_handoff(0.5, 0.4)  # a unit whose hand-off took 0.1 s
    assert coord.splitting.fixed_cost_s == pytest.approx(0.001 + 0.01)


def test_done_racing_the_cut_changes_nothing(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    _, cut = coord.find_cut(1)
    coord.unit_done(0, unit.count, 1.0)  # the victim finished before it read the Cut
    assert coord.cut_answered(0, unit.uid, None) is None  # its late answer: too late
    assert coord.counts.splits_total == 0 and coord.units_total == 1 and coord.splitting.cuts == {}
    assert coord.settle() == 0


def test_refused_cut_frees_the_thief(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.find_cut(1)
    assert coord.cut_answered(0, unit.uid, None) is None
    assert coord.books[0].in_flight.unit == unit and coord.counts.splits_total == 0
    assert coord.find_cut(1) is not None  # it may ask again


def test_victim_dying_after_the_cut_redoes_only_its_head(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.find_cut(1)
    _, tail = coord.cut_answered(0, unit.uid, (1_000, 0))
    coord.device_died(0, "killed by SIGKILL")
    queued = [u for b in coord.books for u in b.queue]
    assert [(u.start, u.count) for u in queued] == [(0, 1_000)]  # the head, for the thief's queue
    assert (tail.unit.start, tail.unit.count) == (1_000, 1_000)
    coord.unit_done(1, 1_000, 1.0)
    head = coord.next_unit(1)
    assert (head.unit.start, head.unit.count) == (0, 1_000)
    coord.unit_done(1, 1_000, 1.0)
    assert coord.settle() == 0 and coord.counts.sequences_done == 2_000


def test_tail_goes_to_a_queue_when_the_thief_is_busy_or_the_run_stops(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.find_cut(1)
    coord.pause(1)  # the thief is paused while the answer travels
    assert coord.cut_answered(0, unit.uid, (1_500, 0)) is None
    assert [(u.start, u.count) for u in coord.books[0].queue] == [(1_500, 500)]
    coord.stop()
    assert coord.settle() == 130  # the tail never ran: the run is interrupted, resume redoes it


def test_no_cut_without_splitting_or_stealing(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.set_stealing(False)
    assert coord.find_cut(1) is None
    coord.set_stealing(True)
    assert coord.find_cut(1) is not None
    (tmp_path / "no-split").mkdir()
    coord, clock, unit = coordinator(tmp_path / "no-split", split=False)  # --no-split
    start_on_victim(coord, unit)
    assert coord.find_cut(1) is None


def test_a_finished_unit_leaves_nothing_behind(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    coord.assign_initial()
    assert coord.units == [] and coord.units_total == 1  # the queues hold the plan, no list beside them
    assert coord.next_unit(0).unit == unit and coord.queues.attempts
    coord.unit_done(0, unit.count, 1.0)
    assert coord.queues.attempts == {} and coord.recovery.deaths == {}


# -- a stop cuts every unit in flight at its next boundary ---------------------------------------------


def test_a_stop_cuts_each_unit_in_flight_at_its_next_record_and_keeps_the_head(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    assert coord.stop_cuts() == []  # no stop: nothing to ask
    coord.stop()
    report = {0: {"unit": unit.uid, "progress": 700, "part": 0, "progress_time": clock.t + 1}}
    [(victim, cut)] = coord.stop_cuts(report)
    assert victim == 0 and cut.uid == unit.uid and cut.at == (701, 0) and cut.until == unit.stop
    assert coord.stop_cuts(report) == []  # asked once
    assert coord.cut_answered(0, unit.uid, (735, 0)) is None  # the worker was further: it stops there
    head = coord.books[0].in_flight.unit
    assert (head.start, head.count) == (0, 735)
    assert [(u.start, u.count) for u in coord.books[0].queue] == [(735, 1_265)]  # the rest, for the resume
    assert coord.counts.splits_total == 0 and coord.books[1].in_flight is None  # nothing handed to anyone
    event = [e for e in coord.events if e.kind == S.EV_INFO][-1]
    assert event.message == ("SIM0 stopped big.fa [0–2,000) at 735: 735 of 2,000 records kept, "
                             "the rest left for the resume")
    coord.unit_done(0, 735, 1.0, uid=unit.uid)  # the worker names the unit it was sent
    assert coord.settle() == 130 and coord.counts.sequences_done == 735


def test_a_stop_cuts_again_a_unit_already_cut_for_an_idle_device(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.find_cut(1)
    coord.stop()
    assert coord.stop_cuts() == []  # its cut for SIM1 is unanswered: ask on a later pass
    assert coord.cut_answered(0, unit.uid, (1_200, 0)) is None  # stopping: the tail is queued, not started
    [(victim, cut)] = coord.stop_cuts()
    assert victim == 0 and cut.uid == unit.uid and cut.until == (1_200, 0)  # named as the worker knows it
    coord.cut_answered(0, unit.uid, (300, 0))
    head = coord.books[0].in_flight.unit
    assert (head.start, head.count, head.split_from) == (0, 300, unit.uid)
    assert sorted((u.start, u.count) for b in coord.books for u in b.queue) == [(300, 900), (1_200, 800)]
    coord.unit_done(0, 300, 1.0, uid=unit.uid)
    assert coord.settle() == 130


def test_a_unit_in_its_last_record_or_a_stop_now_is_not_cut(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path)
    start_on_victim(coord, unit)
    coord.stop()
    last = {0: {"unit": unit.uid, "progress": unit.count - 1, "part": 0, "progress_time": clock.t + 1}}
    assert coord.stop_cuts(last) == [] and coord.splitting.cuts == {}  # it ends by itself
    (tmp_path / "now").mkdir()
    coord, clock, unit = coordinator(tmp_path / "now")
    start_on_victim(coord, unit)
    coord.stop(now=True)
    assert coord.stop_cuts() == []  # its worker is killed anyway
    (tmp_path / "off").mkdir()
    coord, clock, unit = coordinator(tmp_path / "off", split=False)  # --no-split: a running unit is never cut
    start_on_victim(coord, unit)
    coord.stop()
    assert coord.stop_cuts() == []


# -- the worker's answer -----------------------------------------------------------------------------


class Pipe:
    """A real pipe: the worker's end for the UnitControl, the test plays the dispatcher."""

    def __init__(self, *msgs) -> None:
        self.worker, self.dispatcher = multiprocessing.Pipe()
        self._sent: list = []
        for msg in msgs:
            self.push(msg)

    def push(self, msg) -> None:
        self.dispatcher.send(msg)

    @property
    def sent(self) -> list:
        """What the worker's end sent so far."""
        while self.dispatcher.poll():
            self._sent.append(self.dispatcher.recv())
        return self._sent


class Reports:
    def on_progress(self, done) -> None:
        self.done = done


def control_for(unit: Unit, *msgs) -> tuple[UnitControl, Pipe]:
    pipe = Pipe(*msgs)
    control = UnitControl(pipe.worker, Reports(), splittable=True)
    control.begin(unit)
    control._polled = -1e9  # poll at once
    return control, pipe


def test_the_worker_stops_at_the_first_position_it_can(tmp_path: Path) -> None:
    unit = Unit("g.fa#1", "/x", "g.fa", 1, 3, 10, 1, 1_000, "s", part=4)  # record 10, parts 4..end
    control, pipe = control_for(unit, Cut(unit.uid, (10, 6), (10, 9)))
    assert control((0, 7)) == (0, 7)  # past the proposal: it stops where it is
    assert pipe.sent == [CutAt(unit.uid, (10, 7))] and control.expected() == 0
    control, pipe = control_for(unit, Cut(unit.uid, (10, 6), (10, 9)))
    assert control((0, 10)) == (1, 0) and pipe.sent == [CutAt(unit.uid, None)]  # past `until`: no cut
    records = Unit("a.fa", "/x", "a.fa", 0, 1, 0, 100, 5_000, "s")
    control, pipe = control_for(records, Cut("a.fa", (60, 0), (90, 0)))
    assert control(20) == 60 and control.expected() == 60  # a task that speaks records gets records


def test_a_cut_unit_may_be_cut_again_only_shorter(tmp_path: Path) -> None:
    """A stop's cut after a cut for an idle device: the unit ends sooner still."""
    records = Unit("a.fa", "/x", "a.fa", 0, 1, 0, 100, 5_000, "s")
    control, pipe = control_for(records, Cut("a.fa", (60, 0), (90, 0)))
    assert control(20) == 60
    pipe.push(Cut("a.fa", (21, 0), (60, 0)))
    control._polled = -1e9
    assert control(30) == 30 and pipe.sent[-1] == CutAt("a.fa", (30, 0))  # where it is: the next boundary
    pipe.push(Cut("a.fa", (50, 0), (100, 0)))
    control._polled = -1e9
    assert control(31) == 30 and pipe.sent[-1] == CutAt("a.fa", None)  # never longer again
    assert control.expected() == 30


# -- resume by spans ---------------------------------------------------------------------------------


def test_resume_plans_only_the_uncovered_spans(tmp_path: Path) -> None:
    fa = write_fasta(tmp_path / "a.fa", [300] * 3 + [90_000] + [300] * 396)
    whole = plan_units([(str(fa), "a.fa")], 10_000).wholes[0]
    out = tmp_path / "out"
    (out / "units").mkdir(parents=True)
    rows = []
    for start, count, part, end_part, name in ((0, 3, 0, 0, "x"), (3, 1, 0, 50, "y"), (150, 50, 0, 0, "z"),
                                               (120, 100, 0, 0, "overlaps-z")):
        (out / "units" / name).write_text("done")
        sha, size = digest(out / "units" / name)
        rows.append(ManifestEntry("a.fa", 0, 0, "sim0", count, 1.0, False, 1, f"units/{name}",
                                  sha256=whole.sha256, start=start, count=count, task="sim",
                                  part=part, end_part=end_part, output_sha256=sha, output_size=size))
    (out / "manifest.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in rows))
    (out / "run.json").write_text(json.dumps({"format": FORMAT, "task": "sim"}))
    resume = Resume(out, "sim")
    plan = plan_units([(str(fa), "a.fa")], devices=2, floor=20_000.0, parts=SIM.parts, done=resume.done)
    # latest rows first: [120, 220) is kept, so [150, 200) (inside it) is dropped
    kept = [(b, s) for b, s, _ in resume.kept["a.fa"].pieces()]
    assert kept == [((0, 0), (3, 0)), ((3, 0), (3, 50)), ((120, 0), (220, 0))]
    assert plan.units[0].begin == (3, 50)  # the rest of the long record, from its part 50
    cov: Coverage[None] = Coverage(400)
    for b, s in kept + [(u.begin, u.stop) for u in plan.units]:
        cov.add(b, s, None)  # raises on an overlap
    assert cov.complete  # the new units fill exactly the gaps
    everything = [r.id for r in read_unit(whole)]
    for u in plan.units:
        assert [r.id for r in read_unit(u)] == everything[u.start:u.end]
    assert Resume(out, "sim", "other-fingerprint").done(whole) == []


# -- stalls inside a long record ------------------------------------------------------------------------


def test_a_long_record_reporting_parts_is_not_stalled(tmp_path: Path) -> None:
    coord, clock, unit = coordinator(tmp_path, [2_000_000], stall_timeout=10.0)
    start_on_victim(coord, unit)
    report = {"unit": unit.uid, "progress": 0, "part": 0, "progress_time": clock.t}
    for _ in range(10):  # 60 s on one record, a part every 6 s: always progress
        clock.t += 6.0
        report = dict(report, part=report["part"] + 1, progress_time=clock.t)
        assert coord.monitoring.detect_stalled_workers(reports={0: report}) == []
    clock.t += 11.0  # then nothing: a stall
    assert coord.monitoring.detect_stalled_workers(reports={0: report}) == [0]


# -- who looks for work first, and how busy a victim really is -------------------------------------


def test_idle_devices_look_fastest_first_and_victims_are_judged_by_their_progress(tmp_path: Path) -> None:
    fa = write_fasta(tmp_path / "a.fa", [250] * 400)
    plan = plan_units([(str(fa), "a.fa")], 100_000)
    clock = Clock()
    coord = Coordinator(parse_gpus("sim:1,3,1.5"), plan.units, clock=clock, splittable=True,
                        indexes=plan.indexes, parts=SIM.parts)
    assert coord.fastest_first() == [1, 2, 0]
    for b in coord.books:
        coord.device_ready(b.spec.index)
    unit = plan.units[0]
    coord.books[0].push(unit)
    coord.next_unit(0)
    scale = coord.base_rate()
    by_speed = coord.queues.victim_view(coord.books[0], scale, clock.t + 1.0).current_remaining
    # it reports only 20 of 400 records after 1 s: this input runs slower than its average
    coord.progress.note({0: {"unit": unit.uid, "progress": 20, "part": 0, "progress_time": clock.t + 1.0}})
    by_progress = coord.queues.victim_view(coord.books[0], scale, clock.t + 1.0).current_remaining
    assert by_progress > 2 * by_speed
