"""A fake coordinator for the dashboard: plain snapshots, recorded commands.

It implements ``SnapshotSource`` and ``RunCommands`` and nothing else, which is
all the app may use. Commands change the fake's snapshot the way the engine
would (a paused device shows ``paused``, a control event is logged), so tests
can check both what the coordinator received and what the screen shows.

``LiveFake`` moves its numbers with a clock, for the demo and the benchmark.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import replace

from virnucpro_bridge.control import CommandError
from virnucpro_bridge.control import snapshot as s

T0 = 1_700_000_000.0  # a fixed "now" (2023-11-14 22:13:20 UTC) for deterministic screens


def device(index: int, **overrides) -> s.DeviceView:
    base = dict(
        index=index, name="NVIDIA H100 80GB HBM3", kind="cuda", state=s.RUNNING, weight=2.5,
        utilization=92.0, memory=41.0, temperature=61.0, power=420.0, throughput=120.5,
        queue_depth=6, queue_sequences=6_000, units_done=14, sequences_done=14_000, units_failed=0,
        stolen_in=1, stolen_out=0, busy_s=600.0, current_unit=f"sample_{index:02d}.fa",
        current_progress=0.45, last_activity=T0 - 1, stalled=False, pid=4000 + index,
    )
    base.update(overrides)
    return s.DeviceView(**base)


def snapshot(devices, **overrides) -> s.RunSnapshot:
    devices = tuple(devices)
    base = dict(
        time=T0, name="240 files in inputs/", task="sim", out_dir="lbtui-results", started_at=T0 - 754,
        elapsed=754.0, eta=432.0, devices=devices, units_total=240,
        units_done=sum(d.units_done for d in devices), units_skipped=0, units_failed=0,
        units_in_flight=sum(1 for d in devices if d.current_unit), sequences_total=2_400_000,
        sequences_done=sum(d.sequences_done for d in devices), throughput=sum(d.throughput or 0 for d in devices),
        stealing=True, steals_total=0, steals=(), events=(), errors=(), finished=False, stopping=False,
        exit_code=None,
    )
    base.update(overrides)
    return s.RunSnapshot(**base)


def steal(seq: int, when: float, thief: int, victim: int, unit: str, sequences: int) -> s.RunEvent:
    st = s.StealEvent(seq=seq, time=when, thief=thief, victim=victim, unit=unit, sequences=sequences)
    return s.RunEvent(seq=seq, time=when, kind=s.EV_STEAL, level="info",
                      message=f"GPU{thief} stole {unit} from GPU{victim}", device=thief, steal=st)


def event(seq: int, when: float, kind: str, level: str, message: str, device: int | None = None) -> s.RunEvent:
    return s.RunEvent(seq=seq, time=when, kind=kind, level=level, message=message, device=device)


def four_gpus() -> s.RunSnapshot:
    """Four devices: one running, one paused, one stalled, one dead; a few events."""
    devices = [
        device(0, utilization=93.0, throughput=182.4, units_done=31, stolen_in=3),
        device(1, name="NVIDIA GeForce RTX 4090", weight=1.5, state=s.PAUSED, paused=True, utilization=0.0,
               memory=12.0, throughput=64.2, queue_depth=4, units_done=17, current_unit=None,
               current_progress=None, stolen_in=0, stolen_out=2),
        device(2, name="NVIDIA A100-SXM4-40GB", weight=1.2, state=s.STALLED, stalled=True, utilization=64.0,
               throughput=12.0, units_done=9, current_unit="big_sample.fa#3", current_progress=0.12,
               last_activity=T0 - 400, stolen_in=0, stolen_out=1),
        device(3, name="Tesla V100-SXM2-16GB", weight=0.8, state=s.DEAD, utilization=None, memory=None,
               temperature=None, power=None, throughput=None, queue_depth=0, units_done=5, current_unit=None,
               current_progress=None, pid=None, stolen_in=0, stolen_out=0),
    ]
    events = (
        steal(1, T0 - 300, 0, 1, "sample_17.fa", 1_234),
        steal(2, T0 - 240, 0, 2, "sample_22.fa", 987),
        event(3, T0 - 200, s.EV_RETRY, "warning", "sample_40.fa failed on GPU3 (CUDA error); retry 1 of 2", 3),
        event(4, T0 - 120, s.EV_DEATH, "error", "GPU3 worker died (exit -9); its unit goes back to the queues", 3),
        event(5, T0 - 60, s.EV_CONTROL, "info", "GPU1 paused", 1),
        event(6, T0 - 30, s.EV_STALL, "warning", "GPU2 stalled: no progress for 300 s while holding work", 2),
        steal(7, T0 - 5, 0, 1, "sample_51.fa", 2_048),
    )
    return snapshot(devices, events=events, steals=tuple(e.steal for e in events if e.steal),
                    steals_total=3, units_failed=1, units_total=120, sequences_total=1_200_000)


def many_gpus(n: int, seed: int = 7) -> s.RunSnapshot:
    """``n`` busy devices with varied readings (deterministic)."""
    rng = random.Random(seed)
    names = ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090", "NVIDIA L40S"]
    devices = []
    for i in range(n):
        util = rng.choice([98.0, 91.0, 85.0, 72.0, 55.0, 31.0])
        devices.append(device(
            i, name=names[i % len(names)], utilization=util, memory=float(rng.randint(20, 90)),
            throughput=round(rng.uniform(20, 250), 1), queue_depth=rng.randint(0, 9),
            units_done=rng.randint(3, 40), stolen_in=rng.randint(0, 3), stolen_out=rng.randint(0, 3),
            current_unit=f"sample_{rng.randint(0, 999):03d}.fa", current_progress=rng.random(),
            temperature=float(rng.randint(45, 80)), power=float(rng.randint(150, 650)),
        ))
    return snapshot(devices, units_total=40 * n, sequences_total=400_000 * n)


def finished_run() -> s.RunSnapshot:
    devices = [device(i, state=s.DONE, utilization=0.0, throughput=0.0, queue_depth=0, current_unit=None,
                      current_progress=None, units_done=60) for i in range(4)]
    summary = {"makespan_s": 1234.5, "files_total": 240, "files_done": 240, "files_failed": 0,
               "sequences": 2_400_000, "steals": 17, "devices": []}
    return snapshot(devices, finished=True, exit_code=0, summary=summary, eta=None, elapsed=1234.5,
                    units_done=240, units_in_flight=0, sequences_done=2_400_000, throughput=1944.0,
                    steals_total=17, events=(event(1, T0 - 1, s.EV_INFO, "info", "run finished: 240 units"),))


def detail_for(view: s.DeviceView, points: int = 240) -> s.DeviceDetail:
    """A whole-run history with a visible shape: warm-up, plateau, a dip, recovery."""
    start = T0 - 754
    step = 754 / points
    tp, ut = [], []
    for k in range(points):
        t = start + k * step
        level = min(1.0, k / 20) * (0.55 if points * 0.55 < k < points * 0.65 else 1.0)
        tp.append((t, round((view.throughput or 100.0) * level * (1 + 0.08 * math.sin(k / 5)), 2)))
        ut.append((t, round(min(100.0, 95 * level + 3 * math.sin(k / 3)), 2)))
    units = []
    for k in range(12):
        units.append(s.UnitRecord(unit=f"sample_{k:02d}.fa", sequences=1_000 + 37 * k, seconds=8.0 + k,
                                  stolen=k in (3, 7), ok=k != 9, finished_at=start + 60 * (k + 1),
                                  error="CUDA error: out of memory" if k == 9 else None))
    errors = ("sample_09.fa: CUDA error: out of memory (attempt 1)",)
    return s.DeviceDetail(device=view, throughput_history=tuple(tp), utilization_history=tuple(ut),
                          units=tuple(units), errors=errors)


class FakeCoordinator:
    """SnapshotSource + RunCommands over a fixed snapshot; records every command."""

    def __init__(self, snap: s.RunSnapshot, *, fail: dict[str, str] | None = None) -> None:
        self.snap = snap
        self.calls: list[tuple] = []
        self.fail = dict(fail or {})  # command name -> CommandError message
        self._lock = threading.Lock()  # commands arrive on worker threads

    # SnapshotSource
    def snapshot(self) -> s.RunSnapshot:
        with self._lock:
            return self.snap

    def device_detail(self, index: int) -> s.DeviceDetail:
        with self._lock:
            if not 0 <= index < len(self.snap.devices):
                raise IndexError(index)
            return detail_for(self.snap.devices[index])

    # RunCommands
    def pause(self, index: int) -> str:
        return self._device_command("pause", index, paused=True, state=s.PAUSED)

    def resume(self, index: int) -> str:
        return self._device_command("resume", index, paused=False, state=s.RUNNING)

    def drain(self, index: int) -> str:
        return self._device_command("drain", index, draining=True, state=s.DRAINING)

    def set_stealing(self, enabled: bool) -> str:
        self._record("set_stealing", enabled)
        with self._lock:
            self.snap = replace(self.snap, stealing=enabled)
        return self._log(f"stealing {'on' if enabled else 'off'}")

    def stop(self, now: bool = False) -> str:
        self._record("stop", now)
        with self._lock:
            self.snap = replace(self.snap, stopping=True)
        return self._log("stopping now" if now else "stopping after units in flight")

    # plumbing
    def _record(self, name: str, *args) -> None:
        with self._lock:
            self.calls.append((name, *args))
        if name in self.fail:
            raise CommandError(self.fail[name])

    def _device_command(self, name: str, index: int, **changes) -> str:
        self._record(name, index)
        with self._lock:
            devices = list(self.snap.devices)
            devices[index] = replace(devices[index], **changes)
            self.snap = replace(self.snap, devices=tuple(devices))
        return self._log(f"GPU{index} {name}{'d' if name.endswith('e') else 'ed'}", device=index)

    def _log(self, message: str, device: int | None = None) -> str:
        with self._lock:
            seq = max((e.seq for e in self.snap.events), default=0) + 1
            ev = event(seq, self.snap.time, s.EV_CONTROL, "info", message, device)
            self.snap = replace(self.snap, events=(*self.snap.events, ev)[-200:])
        return message


class LiveFake(FakeCoordinator):
    """Numbers that move with ``clock()``: devices work through queues, steal, stall.

    Each call to ``snapshot()`` advances the run to ``clock()``. Deterministic
    for a given seed and sequence of clock readings.
    """

    def __init__(self, n: int, *, clock, seed: int = 1, speeds: list[float] | None = None) -> None:
        super().__init__(many_gpus(n, seed))
        self.clock = clock
        self.rng = random.Random(seed)
        self.speeds = speeds or [self.rng.choice([2.5, 1.5, 1.0, 0.75]) for _ in range(n)]
        self.t_start = clock()
        self.t_last = self.t_start
        self.progress = [self.rng.random() for _ in range(n)]
        self.units_total = 30 * n
        devices = tuple(replace(d, units_done=0, sequences_done=0, queue_depth=30, stolen_in=0, stolen_out=0)
                        for d in self.snap.devices)
        self.snap = replace(self.snap, devices=devices, units_total=self.units_total, units_done=0,
                            sequences_total=self.units_total * 1_000, sequences_done=0, time=self.t_start,
                            elapsed=0.0, started_at=self.t_start)

    def snapshot(self) -> s.RunSnapshot:
        with self._lock:
            now = self.clock()
            self._advance(now - self.t_last, now)
            self.t_last = now
            return self.snap

    def _advance(self, dt: float, now: float) -> None:
        snap = self.snap
        devices = list(snap.devices)
        events = list(snap.events)
        seq = max((e.seq for e in events), default=0)
        steals_total = snap.steals_total
        for i, d in enumerate(devices):
            if d.state in (s.DEAD, s.DONE, s.DRAINED) or (d.paused and d.current_unit is None):
                devices[i] = replace(d, state=s.PAUSED if d.paused else d.state,
                                     utilization=0.0 if d.paused else d.utilization,
                                     throughput=0.0 if d.paused else d.throughput)
                continue
            rate = self.speeds[i] * 0.2  # units per second at full speed
            self.progress[i] += rate * dt
            done, queue, unit = d.units_done, d.queue_depth, d.current_unit
            stolen_in = d.stolen_in
            while self.progress[i] >= 1.0:
                self.progress[i] -= 1.0
                done += 1
                if d.paused or d.draining:
                    unit = None
                    break
                if queue == 0:
                    victim = max(range(len(devices)), key=lambda k: devices[k].queue_depth)
                    if devices[victim].queue_depth > 1 and victim != i and snap.stealing:
                        v = devices[victim]
                        devices[victim] = replace(v, queue_depth=v.queue_depth - 1, stolen_out=v.stolen_out + 1)
                        seq += 1
                        steals_total += 1
                        events.append(steal(seq, now, i, victim, f"sample_{seq:03d}.fa", 1_000 + seq))
                        queue += 1
                        stolen_in += 1
                if queue == 0:
                    unit = None
                    break
                queue -= 1
                unit = f"sample_{self.rng.randint(0, 999):03d}.fa"
            busy = unit is not None
            state = s.PAUSED if d.paused and not busy else s.DRAINED if d.draining and not busy else \
                s.RUNNING if busy else s.IDLE
            util = max(0.0, min(100.0, (85 + 15 * math.sin(now / 7 + i)) if busy else 0.0))
            devices[i] = replace(
                d, state=state, units_done=done, sequences_done=done * 1_000, queue_depth=queue,
                current_unit=unit, current_progress=self.progress[i] if busy else None, stolen_in=stolen_in,
                utilization=round(util, 1),
                throughput=round(self.speeds[i] * 200 * (0.9 + 0.2 * self.rng.random()), 1) if busy else 0.0,
                last_activity=now,
            )
        done = sum(d.units_done for d in devices)
        in_flight = sum(1 for d in devices if d.current_unit)
        elapsed = now - self.t_start
        rate = done / elapsed if elapsed > 0 else 0.0
        finished = in_flight == 0 and all(d.queue_depth == 0 for d in devices)
        summary = None
        if finished:
            summary = {"makespan_s": elapsed, "files_total": self.units_total, "files_done": done,
                       "files_failed": 0, "sequences": done * 1_000, "steals": steals_total}
        self.snap = replace(
            snap, time=now, elapsed=elapsed, devices=tuple(devices), units_done=done, units_in_flight=in_flight,
            sequences_done=done * 1_000, throughput=sum(d.throughput or 0 for d in devices),
            eta=(self.units_total - done) / rate if rate > 0 else None, events=tuple(events[-200:]),
            steals_total=steals_total, finished=finished, exit_code=0 if finished else None, summary=summary,
        )


def trend_history(snap: s.RunSnapshot, samples: int = 19) -> dict:
    """Per-device throughput samples leading up to ``snap`` (the app adds the last one)."""
    from collections import deque

    history = {}
    for d in snap.devices:
        base = d.throughput if d.throughput is not None else 0.0
        values = [round(base * (0.75 + 0.25 * math.sin((k + d.index * 3) / 2.5)), 1) for k in range(samples)]
        if d.state == s.DEAD:
            values[-6:] = [None] * 6
        elif d.state == s.PAUSED:
            values[-3:] = [0.0] * 3
        history[d.index] = deque(values, maxlen=20)
    return history
