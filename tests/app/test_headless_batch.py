"""The batch style of the headless log (stdout not a terminal: a Slurm job's log).

One run line per --progress-interval, every event but steals and splits, a
device's line only when its state changes (running and idle are one state);
--verbose adds device lines and steals. A simulated day-long 8-GPU run, with
steals every few minutes, idle gaps between units, a stall, a death, a pause
and retries, stays under 10,000 lines. No processes, a fake clock.
"""

from __future__ import annotations

import heapq
import io
import random
import re
from dataclasses import replace

from lbtui.headless import Style, follow
from virnucpro_bridge.control import snapshot as s

from . import fake as f

CLOCK_LINE = re.compile(r"^\d\d:\d\d:\d\d ")


class Scripted:
    """Snapshots that change with a fake clock: ``at(t, change)`` applies ``change``
    (snapshot -> snapshot) once the clock reaches ``t``."""

    def __init__(self, first: s.RunSnapshot, step: float = 0.0) -> None:
        self.step = step  # the least a poll's sleep advances the clock (a day at 0.2 s is slow to run)
        self.now = 0.0
        self.snap = first
        self.script: list[tuple[float, int, object]] = []  # a heap: (when, order, change)

    def at(self, t: float, change) -> None:
        heapq.heappush(self.script, (t, len(self.script), change))

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, self.step)

    def snapshot(self) -> s.RunSnapshot:
        while self.script and self.script[0][0] <= self.now:
            _, _, change = heapq.heappop(self.script)
            self.snap = change(self.snap)
        return self.snap


def with_device(snap: s.RunSnapshot, index: int, **changes) -> s.RunSnapshot:
    devices = tuple(replace(d, **changes) if d.index == index else d for d in snap.devices)
    return replace(snap, devices=devices)


def with_event(snap: s.RunSnapshot, event: s.RunEvent, kept: int = 20) -> s.RunSnapshot:
    """The snapshot's recent events (the engine keeps 200; a few are enough at these rates)."""
    return replace(snap, events=(*snap.events, event)[-kept:])


def lines_of(source: Scripted, style: Style) -> list[str]:
    out = io.StringIO()
    follow(source, style=style, out=out, clock=source.clock, sleep=source.sleep)
    return out.getvalue().splitlines()


def finish(snap: s.RunSnapshot) -> s.RunSnapshot:
    return replace(snap, finished=True, exit_code=0, summary={"files_done": 1, "files_total": 1})


def small_run() -> Scripted:
    source = Scripted(f.snapshot([f.device(0, state=s.STARTING), f.device(1, state=s.STARTING)]))
    source.at(1, lambda sn: with_device(with_device(sn, 0, state=s.RUNNING), 1, state=s.RUNNING))
    source.at(30, lambda sn: with_device(sn, 0, state=s.IDLE))  # between two units: not a change
    source.at(31, lambda sn: with_device(sn, 0, state=s.RUNNING))
    source.at(40, lambda sn: with_event(sn, f.steal(1, f.T0, 0, 1, "a.fa", 12)))
    source.at(50, lambda sn: with_event(sn, f.event(2, f.T0, s.EV_RETRY, "warning", "b.fa failed on GPU1", 1)))
    source.at(70, lambda sn: with_device(sn, 1, state=s.STALLED, stalled=True))
    source.at(150, finish)
    return source


def test_batch_prints_run_lines_per_interval_events_and_state_changes() -> None:
    lines = lines_of(small_run(), Style(batch=True, interval=60))
    runs = [ln for ln in lines if CLOCK_LINE.match(ln) and " run " in ln]
    assert len(runs) == 3  # at 0, 60 and 120 s
    gpu1 = [ln for ln in lines if " GPU1 " in ln and " util " in ln]
    assert [ln.split()[2] for ln in gpu1] == ["starting", "running", "stalled", "stalled"]  # the last: at the end
    gpu0 = [ln.split()[2] for ln in lines if " GPU0 " in ln and " util " in ln]
    assert gpu0 == ["starting", "running", "running"]  # idle for a moment between units: no line
    assert any("retry" in ln and "b.fa failed on GPU1" in ln for ln in lines)
    assert not any(" steal " in ln for ln in lines)  # counted in the run line instead
    assert lines[-2].startswith("finished: 1/1 units")


def test_verbose_adds_device_lines_and_steals() -> None:
    lines = lines_of(small_run(), Style(batch=True, interval=60, verbose=True))
    assert any(" steal " in ln and "a.fa" in ln for ln in lines)
    gpu0 = [ln for ln in lines if " GPU0 " in ln and " util " in ln]
    assert len(gpu0) >= 4  # with each of the 3 run lines, and at the end


def test_live_style_is_unchanged() -> None:
    lines = lines_of(small_run(), Style(refresh=10))
    assert len([ln for ln in lines if " GPU0 " in ln and " util " in ln]) >= 15  # every 10 s
    assert any(" steal " in ln for ln in lines)


# -- a day-long 8-GPU run ------------------------------------------------------------------

DAY_S = 24 * 3600
GPUS = 8
POLL_S = 0.5  # the simulated log polls every 0.5 s (the real one every EVENT_POLL_S): idle gaps still show


def day_long_run(seed: int = 1) -> tuple[Scripted, int]:
    """24 h on 8 GPUs: units of 1-10 minutes with idle gaps between them, a steal or a
    split every ~40 s somewhere, 60 retries, a stall and restart, a death, a pause.
    Returns the source and how many events that are not steals or splits it holds."""
    rng = random.Random(seed)
    source = Scripted(f.snapshot([f.device(i, state=s.STARTING) for i in range(GPUS)]), step=POLL_S)
    seq = iter(range(1, 10**9))
    important = 0

    def event(t: float, kind: str, message: str, device: int) -> None:
        """An event at ``t``, numbered when it happens (as the engine numbers them)."""
        nonlocal important
        if kind == s.EV_STEAL:
            source.at(t, lambda sn: with_event(sn, f.steal(next(seq), f.T0 + t, device, (device + 1) % GPUS,
                                                           "x.fa", 9)))
        else:
            important += 1
            source.at(t, lambda sn: with_event(sn, f.event(next(seq), f.T0 + t, kind, "warning", message,
                                                           device)))

    def working(i: int, state: str):
        """Device ``i`` ends or starts a unit, if it is working (not paused, stalled or dead)."""
        def change(sn: s.RunSnapshot) -> s.RunSnapshot:
            d = sn.devices[i]
            return with_device(sn, i, state=state) if d.state in (s.RUNNING, s.IDLE) and not d.paused else sn
        return change

    for i in range(GPUS):
        source.at(rng.uniform(30, 120), lambda sn, i=i: with_device(sn, i, state=s.RUNNING))
        t = 200.0
        while t < DAY_S - 600:  # a unit ends: a moment idle, then the next
            t += rng.uniform(60, 600)
            source.at(t, working(i, s.IDLE))
            source.at(t + rng.uniform(0.1, 3), working(i, s.RUNNING))
    t = 300.0
    while t < DAY_S - 600:
        t += rng.expovariate(1 / 40)
        event(t, s.EV_STEAL, "", rng.randrange(GPUS))
    for _ in range(60):
        event(rng.uniform(600, DAY_S - 600), s.EV_RETRY, "u.fa failed; retry", rng.randrange(GPUS))
    # GPU3 stalls, is restarted and comes back; GPU6 dies; GPU1 is paused for 20 minutes
    source.at(5 * 3600, lambda sn: with_device(sn, 3, state=s.STALLED, stalled=True))
    event(5 * 3600, s.EV_STALL, "GPU3 stalled", 3)
    source.at(5 * 3600 + 5, lambda sn: with_device(sn, 3, state=s.STARTING, stalled=False))
    source.at(5 * 3600 + 90, lambda sn: with_device(sn, 3, state=s.RUNNING))
    source.at(12 * 3600, lambda sn: with_device(sn, 6, state=s.DEAD))
    event(12 * 3600, s.EV_DEATH, "GPU6 died", 6)
    source.at(8 * 3600, lambda sn: with_device(sn, 1, state=s.PAUSED, paused=True))
    event(8 * 3600, s.EV_CONTROL, "GPU1 paused", 1)
    source.at(8 * 3600 + 1200, lambda sn: with_device(sn, 1, state=s.RUNNING, paused=False))
    event(8 * 3600 + 1200, s.EV_CONTROL, "GPU1 resumed", 1)
    source.at(DAY_S, finish)
    return source, important


def test_a_day_long_8_gpu_run_logs_under_10000_lines() -> None:
    source, important = day_long_run()
    lines = lines_of(source, Style(batch=True, interval=60))
    runs = [ln for ln in lines if CLOCK_LINE.match(ln) and " run " in ln]
    devices = [ln for ln in lines if CLOCK_LINE.match(ln) and " util " in ln]
    events = [ln for ln in lines if CLOCK_LINE.match(ln) and " run " not in ln and " util " not in ln]
    print(f"\na day on {GPUS} GPUs, polled every {POLL_S} s: {len(lines)} lines "
          f"({len(runs)} run, {len(devices)} device, {len(events)} event lines)")
    assert len(runs) == DAY_S // 60  # at 0, 60, ... s; the run ends at 24 h with its closing lines
    assert len(events) == important  # every event that is not a steal, and nothing else
    # per device: starting, running, and its last state at the end; and the changes:
    # GPU3 stalled, starting, running; GPU6 dead; GPU1 paused, running
    assert len(devices) == 3 * GPUS + 3 + 1 + 2
    assert len(lines) < 10_000
