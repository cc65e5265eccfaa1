"""``lbtui run``'s options, defined once for the CLI.

``run_options`` turns a parsed command line into the engine's ``RunOptions``
(each option's ``dest`` is its field's name; the defaults are the engine's).
This module imports neither the engine's runner nor any UI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from virnucpro_bridge.options import BACKENDS, DEFAULTS, STALL_ACTIONS, RunOptions
from virnucpro_bridge.policy.stealing import NOMINAL_RATE

from .argtypes import fraction, non_negative_int, positive_float, positive_int, size, size_or_auto

EXAMPLES = """\
examples:
  lbtui run --gpus 0,1,2,3 --task virnucpro --models ~/models inputs/
  lbtui run --gpus sim:2.5,1,1,0.75 --headless inputs/     (simulated GPUs)
  lbtui run --gpus cpu:2 --task virnucpro --models .demo/models lbtui/demo_data

exit codes: 0 all done; 1 some units failed; 2 usage or input error, or no
  device could start (e.g. the models fit on no GPU);
  3 aborted: the output disk failed (full, read-only, I/O error) or an internal
    error; run the same command again to resume; 130 interrupted
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             handler: Callable[[argparse.Namespace], int] | None = None) -> None:
    """Add ``run`` to ``sub``; ``handler`` runs it (None: only parse, as the report does)."""
    p = sub.add_parser(
        "run",
        help="process FASTA inputs on one worker per device",
        description="Process FASTA inputs with one worker process per device. Files are "
        "cut into pieces sized to the run and assigned by device capability; idle devices "
        "steal queued pieces from busy ones, or take the rest of a running one.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="FASTA files or folders (searched recursively for .fa .fasta .fna "
                   ".faa .ffn, optionally .gz)")
    _devices_and_task(p)
    _scheduling(p)
    _display(p)
    _alerts(p)
    _sim_task(p)
    _virnucpro_task(p)
    p.set_defaults(handler=handler)


def _devices_and_task(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("devices and task")
    g.add_argument("--gpus", default=DEFAULTS.gpus, metavar="SPEC",
                   help="0,1,2 (CUDA indices) | all | auto (all CUDA devices, else 2 CPU "
                   "workers) | cpu:N | sim:S1,S2,... (simulated GPUs with relative speeds) "
                   "[default: auto]")
    g.add_argument("--task", default=DEFAULTS.task, metavar="NAME",
                   help="sim | virnucpro | package.module:Class [default: sim for sim: devices, "
                   "else virnucpro]")
    g.add_argument("--out", default=DEFAULTS.out, metavar="DIR",
                   help="output folder; rerunning with the same folder resumes [default: %(default)s]")
    g.add_argument("--backend", choices=BACKENDS, default=DEFAULTS.backend,
                   help="local: worker processes on this machine; ray: one Ray actor per device on a "
                   "Ray cluster (the ray extra: make install, or .venv/bin/pip install -e '.[ray]') [default: local]")
    g.add_argument("--ray-address", default=DEFAULTS.ray_address, metavar="ADDR",
                   help="with --backend ray: the cluster to connect to (host:port of the head node); "
                   "without it a local Ray instance is started")


def _scheduling(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("scheduling")
    s.add_argument("--no-steal", dest="steal", action="store_false",
                   help="turn work stealing off (static assignment only)")
    s.add_argument("--no-weighted", dest="weighted", action="store_false",
                   help="ignore device capability weights when assigning files")
    s.add_argument("--steal-interval", type=positive_float, default=DEFAULTS.steal_interval, metavar="S",
                   help="how often idle workers look again for work to steal [default: %(default)g]")
    s.add_argument("--stall-timeout", type=positive_float, default=DEFAULTS.stall_timeout, metavar="S",
                   help="a worker holding a unit this long without progress is stalled [default: %(default)g]")
    s.add_argument("--stall-action", choices=STALL_ACTIONS, default=DEFAULTS.stall_action,
                   help="what to do with a stalled worker: flag it on the dashboard, or restart it "
                   "(its unit is redone elsewhere, a fresh worker takes its place) [default: %(default)s]")
    s.add_argument("--retries", type=non_negative_int, default=DEFAULTS.retries, metavar="N",
                   help="retries of a failing unit, each on another device, before it is marked "
                   "failed; a device's fault (a CUDA error, a device retired for failing unit after "
                   "unit) does not count [default: %(default)s]")
    s.add_argument("--shard-size", type=size, default=DEFAULTS.shard_size, metavar="SIZE",
                   help="the largest piece: files are cut into pieces that shrink toward the end of "
                   "the run (factoring), never above SIZE. SIZE is a record count (10000), "
                   "residues (50k, 5M, 2G, 200000bp) or seconds of work (30s, 500ms) "
                   "[default: %(default)s]")
    s.add_argument("--no-split", dest="split", action="store_false",
                   help="cut files only into fixed --shard-size pieces at record boundaries, and "
                   "never cut a running unit for an idle device")
    s.add_argument("--split-min", type=size_or_auto, default=DEFAULTS.split_min, metavar="SIZE",
                   help="the smallest piece a file or record is cut into, at plan time or in flight: "
                   "a SIZE as for --shard-size, or auto: 100 times what one unit costs beyond its "
                   "records (measured), so that stays under 1%% of its time; 10 times for a cut in "
                   "flight, made only for an idle device [default: auto]")
    s.add_argument("--grace", type=positive_float, default=DEFAULTS.grace, metavar="S",
                   help="on SIGINT/SIGTERM (or an internal error), the longest a stop may take: units in "
                   "flight are cut at their next record or chunk boundary and the finished part kept; "
                   "past S they are killed. A second signal more than 1 s after the first stops at once "
                   "[default: 20; under Slurm, KillWait less 10 s]")


def _display(p: argparse.ArgumentParser) -> None:
    u = p.add_argument_group("display")
    u.add_argument("--headless", action="store_true",
                   help="plain log lines instead of the dashboard (automatic when stdout is not a TTY; "
                   "then batch-friendly: see --progress-interval)")
    u.add_argument("--refresh", type=positive_float, default=DEFAULTS.refresh, metavar="S",
                   help="seconds between status updates [default: %(default)g]")
    u.add_argument("--progress-interval", type=positive_float, default=DEFAULTS.progress_interval, metavar="S",
                   help="without a terminal (a batch job's log): one progress line every S seconds, "
                   "plus events and device state changes [default: %(default)g]")
    u.add_argument("--verbose", action="store_true", default=DEFAULTS.verbose,
                   help="without a terminal: also every device's line with each progress line, and "
                   "each steal and split")
    u.add_argument("--read-only", action="store_true",
                   help="the dashboard only watches: pause, drain, stealing and stopping are disabled "
                   "(SIGINT/SIGTERM still stop the run)")
    u.add_argument("--exit-on-finish", action="store_true",
                   help="close the dashboard when the run ends (for scripts)")
    u.add_argument("--metrics-log", default=DEFAULTS.metrics_log, metavar="FILE",
                   help="append CSV rows (timestamp, device, seq/s, util %%, mem %%, queue, done); timestamp "
                   "is local time with its UTC offset, ISO 8601")


def _alerts(p: argparse.ArgumentParser) -> None:
    n = p.add_argument_group("alerts")
    n.add_argument("--notify", default=DEFAULTS.notify, metavar="CMD",
                   help="run CMD (split like a shell does, never run by one) when the run finishes, is "
                   "interrupted or aborted, a device is retired, a unit stalls, or throughput stays below "
                   "half the run's median for 10 minutes; the alert is in its environment: LBTUI_EVENT, "
                   "LBTUI_OUT, LBTUI_MESSAGE (also LBTUI_HOST, LBTUI_EXIT_CODE, LBTUI_DEVICE)")
    n.add_argument("--notify-url", default=DEFAULTS.notify_url, metavar="URL",
                   help="POST the same alerts to URL as JSON with a 'text' field (a Slack or Mattermost "
                   "incoming webhook); a slow or failing hook never holds up the run")


def _sim_task(p: argparse.ArgumentParser) -> None:
    m = p.add_argument_group("sim task")
    m.add_argument("--sim-rate", type=positive_float, default=NOMINAL_RATE, metavar="R",
                   help="residues/s of a speed-1 simulated GPU [default: %(default)g]")
    m.add_argument("--sim-jitter", type=fraction, default=0.0, metavar="J",
                   help="per-file time factor in [1-J, 1+J], from the file name [default: 0]")
    m.add_argument("--sim-seed", type=int, default=0, metavar="N", help="seed for the jitter [default: 0]")


def _virnucpro_task(p: argparse.ArgumentParser) -> None:
    v = p.add_argument_group("virnucpro task")
    v.add_argument("--models", default="auto", metavar="DIR",
                   help="the models folder 'lbtui models fetch DIR' wrote (esm/, dnabert/, <L>_model.pth "
                   "or classifier.pth), or 'auto' to find upstream's downloads in the local caches "
                   "[default: auto]")
    v.add_argument("--chunk-length", type=int, choices=(300, 500), default=500,
                   help="chunk length, as upstream; the classifier must match (<L>_model.pth) [default: 500]")
    v.add_argument("--toks-per-batch", type=positive_int, default=None, metavar="N",
                   help="tokens per padded GPU batch, for each model; halved on out-of-memory, "
                   "regrown after 20 clean batches "
                   "[default: from the GPU memory free once the models are loaded]")
    v.add_argument("--no-autocast", dest="autocast", action="store_false",
                   help="run CUDA inference in float32 instead of bf16 (compute capability >= 8.0) "
                   "or fp16")


def task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options each task sees (a plain dict: it is pickled to workers)."""
    return {
        "sim_rate": args.sim_rate,
        "sim_jitter": args.sim_jitter,
        "sim_seed": args.sim_seed,
        "models": args.models,
        "chunk_length": args.chunk_length,
        "toks_per_batch": args.toks_per_batch,
        "autocast": args.autocast,
    }


def run_options(args: argparse.Namespace) -> RunOptions:
    """The engine's options from a parsed ``run`` command line (the display options stay in ``args``)."""
    return RunOptions.from_values(vars(args), task_options=task_options(args), argv=tuple(sys.argv))
