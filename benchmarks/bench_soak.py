"""Soak: a long run watched by dashboards that come and go (prints numbers, asserts nothing).

100,000 zero-cost units on 4 simulated devices, with 3 ``lbtui attach``
dashboards (as ``lbtui serve`` runs them: textual's web protocol on pipes,
refreshing every 0.5 s) that all detach and attach again every minute. Prints
the resident memory (RSS), open file descriptors and threads of the run and
of each dashboard after warm-up (10 % of the way), in the middle and near the
end, and how far each moved from its warm-up value (target: within 10 %), with
one line per re-attach cycle in between.

A run's own memory grows with the units it has done (the manifest's keys,
per-device history: see bench_sched.py memory); so the same units are first
run with no dashboard at all, sampled at the same points, and the run's RSS
with dashboards is also shown beside that baseline: what the dashboards and
their coming and going add is the difference.

Usage: python benchmarks/bench_soak.py [--units N] [--minutes M] [--reattach S] [--dashboards N] [--no-baseline]
  --minutes M stops the run after M minutes (SIGTERM; it ends cleanly, exit 130) for a shorter soak.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_channel import Attach, start_run, wait_for_channel, write_units  # noqa: E402

POINTS = (("warm-up", 0.10), ("middle", 0.50), ("end", 0.90))
SETTLED_S = 15.0  # a dashboard younger than this is still starting: its numbers are not compared


def usage(pid: int) -> tuple[float, int, int]:
    p = psutil.Process(pid)
    with p.oneshot():
        return p.memory_info().rss / 2**20, p.num_fds(), p.num_threads()


class Manifest:
    """Counts the run's completed units by reading only what was appended since last time."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def done(self) -> int:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return 0
        self.offset += len(data)
        self.lines += data.count(b"\n")
        return self.lines


class Dashboards:
    def __init__(self, out: Path, n: int, refresh: float) -> None:
        self.out, self.n, self.refresh = out, n, refresh
        self.slots: list[tuple[Attach, float]] = []
        self.generations = 0
        self.exits: list[int] = []

    def attach_all(self) -> None:
        self.slots = [(Attach(self.out, refresh=self.refresh), time.monotonic()) for _ in range(self.n)]
        self.generations += 1
        self.settled: list[tuple[float, int, int]] | None = None

    def note_settled(self) -> None:
        """Each generation's usage once it has settled, to compare with its usage when it detaches."""
        if self.settled is None and self.slots and min(time.monotonic() - t for _, t in self.slots) >= SETTLED_S:
            self.settled = self.usage()

    def detach_all(self) -> None:
        if self.settled is not None:  # the same processes, a minute apart: a leak would show here
            last = self.usage()
            rss = ", ".join(
                f"{a[0]:.0f}->{b[0]:.0f} MB ({change(b[0], a[0])})" for a, b in zip(self.settled, last, strict=True)
            )
            fds = ", ".join(f"{a[1]}->{b[1]}" for a, b in zip(self.settled, last, strict=True))
            print(f"soak: dashboards of generation {self.generations}, settled -> detaching: RSS {rss}; fds {fds}",
                  flush=True)
        for a, _ in self.slots:
            a.proc.send_signal(signal.SIGTERM)  # what serve does when a tab closes
        for a, _ in self.slots:
            self.exits.append(a.proc.wait(30))
        self.slots = []

    def settle(self) -> None:
        youngest = max(started for _, started in self.slots)
        time.sleep(max(0.0, SETTLED_S - (time.monotonic() - youngest)))

    def usage(self) -> list[tuple[float, int, int]]:
        return [usage(a.proc.pid) for a, _ in self.slots]


def show(label: str, run: tuple[float, int, int], dashes: list[tuple[float, int, int]], done: int) -> None:
    parts = ", ".join(f"#{i + 1} {r:.0f} MB/{f} fds/{t} thr" for i, (r, f, t) in enumerate(dashes))
    print(f"soak: {label:<8} {done:>7,} units  run {run[0]:.0f} MB, {run[1]} fds, {run[2]} threads  "
          f"dashboards: {parts}", flush=True)


def change(now: float, then: float) -> str:
    return f"{100 * (now - then) / then:+.1f} %" if then else "n/a"


def baseline(tmp: Path, inputs: Path, units: int) -> dict[str, tuple[float, int, int]]:
    """The run alone: its usage at the same points, with nothing attached."""
    out = tmp / "out-alone"
    run = start_run(inputs, out, "--gpus", "sim:1,1,1,1", "--sim-rate", "1e15")
    manifest, samples, pending = Manifest(out / "manifest.jsonl"), {}, list(POINTS)
    while run.poll() is None:
        time.sleep(0.2)
        done = manifest.done()
        if pending and done / units >= pending[0][1] and run.poll() is None:
            label = pending.pop(0)[0]
            samples[label] = usage(run.pid)
            show(f"{label}*", samples[label], [], done)
    run.wait()
    return samples


def soak(tmp: Path, units: int, minutes: float | None, reattach: float, n: int, refresh: float,
         alone: bool) -> None:
    t_write = time.monotonic()
    inputs = write_units(tmp / "units", units)
    print(f"soak: wrote {units:,} inputs in {time.monotonic() - t_write:.0f} s", flush=True)
    base = {}
    if alone and not minutes:
        print("soak: first the run alone (* lines), then with the dashboards", flush=True)
        base = baseline(tmp, inputs, units)
    out = tmp / "out"
    run = start_run(inputs, out, "--gpus", "sim:1,1,1,1", "--sim-rate", "1e15")
    wait_for_channel(out, run, timeout=1800)
    t0 = time.monotonic()
    manifest = Manifest(out / "manifest.jsonl")
    dashes = Dashboards(out, n, refresh)
    dashes.attach_all()
    last_cycle, samples, pending = time.monotonic(), {}, list(POINTS)
    while run.poll() is None:
        time.sleep(0.5)
        dashes.note_settled()
        done = manifest.done()
        progress = done / units
        if minutes:
            progress = max(progress, (time.monotonic() - t0) / (minutes * 60))
        if pending and progress >= pending[0][1] and run.poll() is None:
            label = pending.pop(0)[0]
            run_now = usage(run.pid)  # at the same point as the run alone
            dashes.settle()  # the dashboards once past their start-up, while the run still goes on
            samples[label] = (run_now, dashes.usage() if run.poll() is None else [])
            show(label, *samples[label], done)
        if time.monotonic() - last_cycle >= reattach and run.poll() is None:
            dashes.detach_all()
            dashes.attach_all()
            last_cycle = time.monotonic()
            show(f"cycle {dashes.generations}", usage(run.pid), [], done)
        if minutes and time.monotonic() - t0 > minutes * 60 and not pending:
            run.send_signal(signal.SIGTERM)
            break
    code = run.wait()
    dashes.detach_all()
    elapsed = time.monotonic() - t0
    print(f"soak: the run exited {code} after {elapsed:.0f} s with {manifest.done():,} of {units:,} units "
          f"({manifest.done() / elapsed:,.0f} units/s); {dashes.generations} dashboard generations, "
          f"detach exits {sorted(set(dashes.exits))}")
    if "warm-up" in samples and "end" in samples:
        (run0, d0), (run1, d1) = samples["warm-up"], samples["end"]
        print(f"soak: the run from warm-up to end: RSS {change(run1[0], run0[0])}, fds {change(run1[1], run0[1])}, "
              f"threads {run0[2]} -> {run1[2]} (target: within 10 %)")
        if "warm-up" in base and "end" in base:
            b0, b1 = base["warm-up"], base["end"]
            extra0, extra1 = run0[0] - b0[0], run1[0] - b1[0]
            print(f"soak: the run alone from warm-up to end: RSS {change(b1[0], b0[0])}; with dashboards beside alone: "
                  f"{extra0:+.0f} MB ({change(run0[0], b0[0])}) after warm-up, {extra1:+.0f} MB "
                  f"({change(run1[0], b1[0])}) at the end; fds {b0[1]} alone, {run0[1]} -> {run1[1]} with 3 attached")
        if not d1:
            print("soak: the run ended before the last dashboards settled: no dashboard numbers at the end")
        for i, (a, b) in enumerate(zip(d0, d1, strict=True)):
            print(f"soak: dashboard #{i + 1} (a newer process each minute): RSS {change(b[0], a[0])}, "
                  f"fds {change(b[1], a[1])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--reattach", type=float, default=60.0, help="seconds between re-attaches [60]")
    parser.add_argument("--dashboards", type=int, default=3)
    parser.add_argument("--refresh", type=float, default=0.5)
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without dashboards")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(REPO))
    with tempfile.TemporaryDirectory(prefix="lbtui-soak-") as tmp:
        soak(Path(tmp), args.units, args.minutes, args.reattach, args.dashboards, args.refresh,
             not args.no_baseline)


if __name__ == "__main__":
    main()
