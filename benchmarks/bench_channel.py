"""Control-channel benchmarks (prints numbers, asserts nothing).

1. dashboards: a run's dispatcher throughput (zero-cost units on simulated
   devices) with no dashboard attached and with 20 clients asking for a
   snapshot every 0.5 s, as 20 dashboards at their fastest refresh do
   (target: under 5 % lost), and the run's main-process CPU per 1,000 units.
   The clients read each reply but do not decode it, so the figure is the
   run's cost, not the dashboards' own CPU. Runs alternate, and the median of
   each is kept: this machine's other load moves single runs by more than 5 %.
2. ends: how long ``lbtui attach`` (as ``lbtui serve`` runs it: textual's web
   protocol on pipes) takes to exit after its pipes close or SIGTERM, in each
   state of its channel client (target: under 2 s, exit 0), and the CPU it
   uses while idle (a busy loop would show as ~100 %).

Usage: python benchmarks/bench_channel.py [dashboards] [ends] [--units N] [--pairs N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LBTUI = [sys.executable, "-m", "lbtui.cli"]
WEB_ENV = {"TEXTUAL_DRIVER": "lbtui.web.driver:AttachWebDriver", "COLUMNS": "120", "ROWS": "40"}


def write_units(folder: Path, n: int) -> Path:
    """``n`` one-record files: with --sim-rate 1e15 each is a zero-cost unit."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"u{i:06d}.fa").write_text(f">u{i}\n{'ACGT' * 25}\n")
    return folder


def start_run(inputs: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = LBTUI + ["run", "--headless", "--refresh", "60", "--out", str(out), *extra, str(inputs)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_channel(out: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the run ended early ({proc.returncode}): {proc.stderr.read()[-400:]}")
        try:
            if json.loads((out / "run.json").read_text()).get("control"):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    sys.exit("the run never opened its channel")


def pollers(out: Path, n: int, period: float, stop: threading.Event, served: list[int]) -> list[threading.Thread]:
    """``n`` channel clients, each asking for a snapshot every ``period`` s (a dashboard's refresh).
    They read each reply whole but do not decode it: what is measured is the run's cost, not the
    dashboards' own CPU, which on a machine with few cores would take the run's share too."""
    import socket

    from virnucpro_bridge.control.endpoint import authenticate
    from virnucpro_bridge.control.wire import frame, read_frame

    control = json.loads((out / "run.json").read_text())["control"]
    key = Path(control["key"]).read_bytes()

    def poll() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(control["socket"])
            authenticate(sock, key, server=False)
            request = frame(b'{"op":"snapshot"}')
            try:
                sock.sendall(frame(b'{"op":"hello","protocol":1}'))
                read_frame(sock, 1 << 30, 0)
                while not stop.is_set():
                    t0 = time.monotonic()
                    sock.sendall(request)
                    read_frame(sock, 1 << 30, 0)
                    served.append(1)
                    stop.wait(max(0.0, period - (time.monotonic() - t0)))
            except (OSError, EOFError):
                return  # the run ended

    threads = [threading.Thread(target=poll, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def cpu_seconds(pid: int, stop: threading.Event, last: list[float]) -> None:
    """The run's main process's CPU time, sampled until it exits (the last sample is kept)."""
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            t = proc.cpu_times()
            last[:] = [t.user + t.system]
            stop.wait(0.1)
    except psutil.Error:
        pass


def one_run(tmp: Path, inputs: Path, label: str, clients: int) -> tuple[float, float]:
    out = tmp / f"out-{label}"
    proc = start_run(inputs, out, "--gpus", "sim:1,1,1,1", "--sim-rate", "1e15")
    stop, served, cpu = threading.Event(), [], [0.0]
    sampler = threading.Thread(target=cpu_seconds, args=(proc.pid, stop, cpu), daemon=True)
    sampler.start()
    threads: list[threading.Thread] = []
    if clients:
        wait_for_channel(out, proc)
        threads = pollers(out, clients, 0.5, stop, served)
    proc.wait()
    stop.set()
    for t in [*threads, sampler]:
        t.join(5)
    if proc.returncode != 0:
        sys.exit(f"the run exited {proc.returncode}: {proc.stderr.read()[-400:]}")
    summary = json.loads((out / "summary.json").read_text())
    rate = summary["files_total"] / summary["makespan_s"]
    per_k = 1000 * cpu[0] / summary["files_total"]
    extra = f", {len(served) / summary['makespan_s']:.1f} snapshots/s served" if clients else ""
    print(f"dashboards: {clients:>2} attached: {rate:,.0f} units/s, main process {per_k:.2f} CPU s "
          f"per 1,000 units{extra}", flush=True)
    return rate, per_k


def bench_dashboards(tmp: Path, units: int, pairs: int) -> None:
    inputs = write_units(tmp / "units", units)
    alone, watched = [], []
    for i in range(pairs):
        alone.append(one_run(tmp, inputs, f"alone{i}", 0))
        watched.append(one_run(tmp, inputs, f"watched{i}", 20))
    a, w = (statistics.median(r for r, _ in alone), statistics.median(r for r, _ in watched))
    ca, cw = (statistics.median(c for _, c in alone), statistics.median(c for _, c in watched))
    print(f"dashboards: {units:,} zero-cost units on 4 simulated devices, median of {pairs}: "
          f"{a:,.0f} units/s alone, {w:,.0f} with 20 dashboards at 0.5 s: {100 * (a - w) / a:+.1f} % "
          f"throughput lost (target < 5 %); the run's main process: {ca:.2f} vs {cw:.2f} CPU s "
          f"per 1,000 units ({100 * (cw - ca) / ca:+.1f} %)")


# -- 2. how an attach ends ----------------------------------------------------------------

class Attach:
    """``lbtui attach`` as serve runs it; its output is read and dropped, as serve would forward it."""

    def __init__(self, out: Path, refresh: float = 0.5) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **WEB_ENV}
        self.proc = subprocess.Popen(LBTUI + ["attach", str(out), "--refresh", str(refresh)], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.drawn = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while chunk := self.proc.stdout.read1(65536):
                if b"SIM0" in chunk:
                    self.drawn.set()
        except (OSError, ValueError):
            pass  # the benchmark closed the pipe under us: that is the test

    def end_by(self, trigger) -> tuple[float, int]:
        t0 = time.monotonic()
        trigger(self)
        code = self.proc.wait(30)
        return time.monotonic() - t0, code


def close_pipes(a: Attach) -> None:
    a.proc.stdin.close()
    os.close(a.proc.stdout.fileno())  # the reader thread sees EBADF or EOF and stops


def sigterm(a: Attach) -> None:
    a.proc.send_signal(signal.SIGTERM)


def bench_ends(tmp: Path) -> None:
    inputs = tmp / "slow"
    inputs.mkdir()
    for i in range(40):
        (inputs / f"s{i:02d}.fa").write_text(f">s{i}\n{'ACGT' * 250}\n")
    out = tmp / "out-ends"
    run = start_run(inputs, out, "--gpus", "sim:1", "--sim-rate", "100")  # 10 s a unit: a live run throughout
    wait_for_channel(out, run)
    results = []

    def measure(state: str, trigger, before=None, after=None) -> None:
        """Start an attach; ``before`` it starts or ``after`` it has drawn, put it in ``state``; end it."""
        if before is not None:
            before()
        a = Attach(out)
        if before is None and not a.drawn.wait(60):
            sys.exit("the attach never drew its dashboard")
        if after is not None:
            after()
        time.sleep(1.5)  # its process is up and in that state (a handshake, a request, a lost run)
        seconds, code = a.end_by(trigger)
        results.append((state, trigger.__name__, seconds, code))
        print(f"ends: {state:<22} {trigger.__name__:<11} exit {code} after {seconds:.2f} s (target < 2 s)", flush=True)
        if run.poll() is None:
            os.kill(run.pid, signal.SIGCONT)

    def stop_run() -> None:
        os.kill(run.pid, signal.SIGSTOP)

    a = Attach(out)
    a.drawn.wait(60)
    proc = psutil.Process(a.proc.pid)
    before = proc.cpu_times()
    time.sleep(5.0)
    after = proc.cpu_times()
    busy = (after.user + after.system - before.user - before.system) / 5.0
    print(f"ends: an attached dashboard at 0.5 s refresh uses {100 * busy:.1f} % of a core", flush=True)
    a.end_by(sigterm)
    measure("attached", close_pipes)
    measure("attached", sigterm)
    measure("waiting for a reply", sigterm, after=stop_run)
    measure("waiting for a reply", close_pipes, after=stop_run)
    measure("connecting", sigterm, before=stop_run)
    measure("the run gone", sigterm, after=lambda: (run.kill(), run.wait()))
    worst = max(r[2] for r in results)
    print(f"ends: worst {worst:.2f} s; all exit 0: {all(r[3] == 0 for r in results)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", choices=["dashboards", "ends"], default=[])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(REPO))
    with tempfile.TemporaryDirectory(prefix="lbtui-bench-") as tmp:
        for name in args.which or ["dashboards", "ends"]:
            if name == "dashboards":
                bench_dashboards(Path(tmp), args.units, args.pairs)
            else:
                bench_ends(Path(tmp))


if __name__ == "__main__":
    main()
