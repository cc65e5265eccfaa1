"""Which moments deserve an alert: pure rules over snapshots and a hand-driven clock."""

from __future__ import annotations

from dataclasses import replace

from tests.app import fake as f
from virnucpro_bridge.alerts.rules import (
    DEVICE_RETIRED,
    FINISHED,
    INTERRUPTED,
    SLOW,
    STALLED,
    AlertRules,
    SlowWatch,
    ending,
)
from virnucpro_bridge.control import snapshot as S


def test_slow_fires_once_after_ten_minutes_below_half_the_median_and_rearms() -> None:
    watch = SlowWatch()
    t, fired = 0.0, []
    for _ in range(60):  # ten minutes at 100 seq/s: the median is 100
        assert watch.sample(t, 100.0, True) is None
        t += 10
    assert watch.median == 100.0
    start = t
    while t - start <= 700:  # 40 seq/s: below half
        if (said := watch.sample(t, 40.0, True)) is not None:
            fired.append((t - start, said))
        t += 10
    assert [at for at, _ in fired] == [600.0]  # once, after ten minutes
    assert "below half the run's median (100.0 seq/s) for 10 minutes" in fired[0][1]
    assert watch.sample(t, 100.0, True) is None  # recovered: re-armed
    start = t = t + 10
    again = [t2 for t2 in range(int(t), int(t) + 700, 10) if watch.sample(float(t2), 40.0, True)]
    assert again == [int(start) + 600]


def test_slow_does_not_judge_without_history_or_while_nothing_is_queued() -> None:
    watch = SlowWatch()
    assert all(watch.sample(t, 10.0 if t > 100 else 100.0, True) is None for t in range(0, 200, 10))  # 20 samples
    watch = SlowWatch()
    for t in range(0, 600, 10):
        watch.sample(float(t), 100.0, True)
    # the tail of the run: devices run dry by design; a stretch broken by it starts again
    assert all(watch.sample(float(t), 1.0, t % 300 != 0) is None for t in range(600, 1500, 10))


def test_each_stall_and_each_dead_device_is_said_once() -> None:
    snap = f.four_gpus()  # GPU2 stalled a while ago, GPU3 is dead
    rules = AlertRules()
    assert [(a.event, a.device) for a in rules.observe(snap)] == [(STALLED, "GPU2"), (DEVICE_RETIRED, "GPU3")]
    stall = S.RunEvent(900, snap.time, S.EV_STALL, "warning", "GPU1 stalled: no progress on a.fa for 300 s", 1)
    snap = replace(snap, events=(*snap.events, stall))
    first = rules.observe(snap)
    assert [(a.event, a.device) for a in first] == [(STALLED, "GPU1")]
    dead = tuple(replace(d, state=S.DEAD, reason="retired: 3 units in a row failed on it") if d.index == 2 else d
                 for d in snap.devices)
    snap = replace(snap, devices=dead)
    second = rules.observe(snap)
    assert [(a.event, a.device) for a in second] == [(DEVICE_RETIRED, "GPU2")]
    assert "retired: 3 units in a row failed on it" in second[0].message
    assert rules.observe(replace(snap, time=snap.time + 2)) == []


def test_the_end_says_how_the_run_ended() -> None:
    done = ending({"files_done": 10, "files_total": 10, "run": {"sessions": 3}}, 0, None)
    assert done.event == FINISHED and done.exit_code == 0
    assert done.message == "the run finished: 10/10 units over 3 sessions, exit 0"
    stopped = ending({"files_done": 4, "files_total": 10}, 130, None)
    assert stopped.event == INTERRUPTED and "run the same command again to resume" in stopped.message
    assert ending({}, 3, "no space left on device").message.startswith("the run was aborted: no space left")
    assert SLOW == "slow"
