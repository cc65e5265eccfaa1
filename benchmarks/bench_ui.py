"""Dashboard benchmarks (prints numbers, asserts nothing).

1. refresh: event-loop CPU time to apply one snapshot of 64 devices with
   1,000 events already in the log, every cell changing and two new events per
   refresh (the worst case; an idle run changes far less). Median and p95 of
   ``apply_snapshot`` alone, and of apply plus the repaint that follows, at
   120x40 and 160x50. Garbage collections that run meanwhile count (they are
   event-loop time too); the full ones are listed.
2. idle CPU: the real app on a pseudo-terminal (so rendering and terminal
   output count) at the default 2 s refresh with 64 idle devices; CPU % of
   one core over ~10 s, measured from outside with psutil.

Both run in the process as ``lbtui run`` has it (garbage collector frozen
before the app starts). ``--compare REV`` runs each benchmark twice, each in a
fresh process: once with the device table (and the formatting it used) as of
git revision REV, loaded from git history for the run only, then with this
tree's; so a before/after is measured side by side on the same machine load.

Usage: python benchmarks/bench_ui.py [refresh|idle ...] [--compare REV]
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import importlib.util
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICES = 64
LOG_EVENTS = 1_000
REFRESHES = 200  # enough for a stable p95
IDLE_SECONDS = 10.0
SIZES = ((120, 40), (160, 50))  # 26 and 33 table rows on screen


def load_fake():
    spec = importlib.util.spec_from_file_location("lbtui_tests_fake", ROOT / "tests" / "app" / "fake.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def use_table_from(rev: str) -> None:
    """Make the app build the device table of git revision ``rev`` (for a before/after)."""
    import lbtui.app.app as app_module

    folder = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    for name, module_name in (("format", "lbtui.app.format"), ("gpu_table", "lbtui.app.gpu_table_at_rev")):
        source = subprocess.run(["git", "show", f"{rev}:lbtui/app/{name}.py"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout
        path = folder / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    app_module.GpuTable = sys.modules["lbtui.app.gpu_table_at_rev"].GpuTable


def freeze_startup() -> None:
    """What ``lbtui run`` does before the app starts (see run_cmd)."""
    gc.collect()
    gc.freeze()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_refresh(size: tuple[int, int]) -> None:
    from lbtui.app import LbtuiApp
    from virnucpro_bridge.control import snapshot as s

    f = load_fake()
    base = f.many_gpus(DEVICES)
    source = f.FakeCoordinator(base)
    app = LbtuiApp(source, source, poll=False, clock=time.time)
    apply_ms, cycle_ms = [], []
    full_gc: list[float] = []  # full (generation 2) collections during the measured refreshes, in ms
    started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started[:] = [time.thread_time()]
            elif started and measuring:
                full_gc.append((time.thread_time() - started[0]) * 1e3)

    measuring = False
    gc.callbacks.append(on_gc)
    freeze_startup()
    async with app.run_test(size=size) as pilot:
        backlog = tuple(f.event(k + 1, f.T0, s.EV_INFO, "info", f"backlog event {k}") for k in range(LOG_EVENTS))
        app.apply_snapshot(replace(base, time=f.T0 + 0.5, events=backlog))
        await pilot.pause()
        seq = LOG_EVENTS
        for k in range(REFRESHES):
            devices = tuple(
                replace(d, utilization=float((k * 7 + d.index) % 100), throughput=10.0 + (k * 13 + d.index) % 200,
                        units_done=d.units_done + k, current_progress=(k % 100) / 100, queue_depth=(k + d.index) % 9)
                for d in base.devices
            )
            events = (
                f.steal(seq + 1, f.T0 + k, k % DEVICES, (k + 1) % DEVICES, f"sample_{k}.fa", 1_000 + k),
                f.event(seq + 2, f.T0 + k, s.EV_RETRY, "warning", f"sample_{k}.fa retry 1 of 2"),
            )
            seq += 2
            snap = replace(base, time=f.T0 + 1 + k, elapsed=base.elapsed + k, devices=devices, events=events)
            # CPU time of this thread (the event loop's): other processes on a
            # busy machine and the pause's idle waits do not count.
            measuring = True
            t0 = time.thread_time()
            app.apply_snapshot(snap)
            t1 = time.thread_time()
            await pilot.pause()  # layout + repaint of what changed
            t2 = time.thread_time()
            measuring = False
            apply_ms.append((t1 - t0) * 1e3)
            cycle_ms.append((t2 - t0) * 1e3)
        lines = len(app.query_one("EventLog").lines)
    gc.callbacks.remove(on_gc)
    print(f"refresh at {size[0]}x{size[1]}: {DEVICES} devices, {lines:,} log lines, {REFRESHES} refreshes, "
          "every cell and two events new each time")
    print(f"  apply_snapshot          median {statistics.median(apply_ms):6.2f} ms   p95 {pct(apply_ms, 0.95):6.2f} ms")
    print(f"  apply + repaint (CPU)   median {statistics.median(cycle_ms):6.2f} ms   p95 {pct(cycle_ms, 0.95):6.2f} ms"
          f"   max {max(cycle_ms):6.2f} ms")
    print(
        f"  full GCs in the above   {len(full_gc)}: "
        + (", ".join(f"{t:.0f}" for t in full_gc) + " ms" if full_gc else "none")
    )


def idle_child() -> None:
    """The app over 64 idle devices, at the default refresh, on this terminal."""
    from lbtui.app import run_dashboard
    from virnucpro_bridge.control import snapshot as s

    f = load_fake()
    devices = tuple(replace(d, state=s.IDLE, utilization=0.0, throughput=0.0, queue_depth=0, current_unit=None,
                            current_progress=None) for d in f.many_gpus(DEVICES).devices)
    start = time.time()

    class Idle(f.FakeCoordinator):
        def snapshot(self):
            now = time.time()
            return replace(self.snap, time=now, elapsed=now - start, units_in_flight=0)

    source = Idle(f.snapshot(devices))
    freeze_startup()
    run_dashboard(source, source)


def bench_idle(table_args: list[str]) -> None:
    import psutil

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    child = subprocess.Popen([sys.executable, __file__, "--idle-child", *table_args],
                             stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, start_new_session=True)
    os.close(slave)
    out = bytearray()

    def drain() -> None:  # a terminal reads what the app writes; so do we
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            out.extend(data)

    threading.Thread(target=drain, daemon=True).start()
    proc = psutil.Process(child.pid)
    time.sleep(4.0)  # start-up (imports, first paint) is not what we measure
    cpu0, t0, bytes0 = sum(proc.cpu_times()[:2]), time.monotonic(), len(out)
    time.sleep(IDLE_SECONDS)
    cpu1, t1, bytes1 = sum(proc.cpu_times()[:2]), time.monotonic(), len(out)
    os.write(master, b"q")
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    os.close(master)
    share = (cpu1 - cpu0) / (t1 - t0) * 100
    print(f"idle: {DEVICES} idle devices, refresh 2 s, 120x40 pty, {t1 - t0:.1f} s")
    print(f"  CPU {share:.2f} % of one core   ({(bytes1 - bytes0) / (t1 - t0) / 1024:.1f} KiB/s to the terminal)")


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    rev = None
    if "--table" in argv:  # a child of --compare: this run uses the table of that revision
        k = argv.index("--table")
        rev = argv[k + 1]
        del argv[k:k + 2]
        use_table_from(rev)
    if argv[:1] == ["--idle-child"]:
        idle_child()
        return
    if "--compare" in argv:
        k = argv.index("--compare")
        before = argv[k + 1]
        which = argv[:k] + argv[k + 2:] or ["refresh", "idle"]
        for name in which:
            for label, extra in ((f"before ({before})", ["--table", before]), ("after (this tree)", [])):
                print(f"== {name}, {label}", flush=True)
                subprocess.run([sys.executable, __file__, name, *extra], cwd=ROOT, check=True)
        return
    which = argv or ["refresh", "idle"]
    table_args = ["--table", rev] if rev else []
    if "refresh" in which:
        for size in SIZES:
            asyncio.run(bench_refresh(size))
    if "idle" in which:
        bench_idle(table_args)


if __name__ == "__main__":
    main(sys.argv[1:])
