"""The headless run's stop: a second signal ends it wherever the main thread is,
and the closing line says how the run ended, not "finished" for a stopped run.

A fault test (``test_second_signal_stops_at_once``) once saw exit 130 with no
"interrupted" line: the second signal's HardStop was raised while the main thread
read the workers' reports, an ``except Exception`` there swallowed it, and the
headless log printed its closing lines ("finished: 0/6 units") before the exit
code was known. These tests pin each half without processes."""

from __future__ import annotations

import io
import signal
from types import SimpleNamespace

import pytest

from lbtui.headless import follow
from lbtui.run_cmd import SAME_REQUEST_S, HardStop, Stopper
from virnucpro_bridge.coordinator.coordinator import Coordinator
from virnucpro_bridge.hardware.devices import parse_gpus

from . import fake as f


def test_a_second_signal_while_reports_are_read_reaches_the_run_command() -> None:
    stopper: Stopper | None = None

    class SignalledMidCall:
        """The Manager dict, with the second Ctrl+C arriving during the call."""

        def copy(self):
            stopper.handler(signal.SIGINT, None)
            return {}

    coord = Coordinator(parse_gpus("sim:1"), [], status=SignalledMidCall())
    run = SimpleNamespace(coord=coord, stop=lambda now=False: coord.stop(now=now))  # Run.stop, no workers
    stopper = Stopper(run, grace=900.0)
    stopper.handler(signal.SIGINT, None)  # the first: finish the units in flight
    assert coord.stopping and not stopper.hard
    stopper.first -= SAME_REQUEST_S  # the second comes later than a duplicate would
    with pytest.raises(HardStop):
        coord.read_reports()
    assert stopper.hard
    assert not [e for e in coord.snapshot().events if "readings lost" in e.message]


class Source:
    def __init__(self, snap) -> None:
        self.snap = snap

    def snapshot(self):
        return self.snap


def test_follow_leaves_the_closing_lines_of_an_unfinished_run_to_its_caller() -> None:
    """Ended by ``done()`` (a stop past its grace, a dispatcher gone) before the run
    closed out: no exit code yet, so no verb can be right; the caller prints them."""
    out = io.StringIO()
    last = follow(Source(f.four_gpus()), refresh=60, out=out, done=lambda: True)
    assert not last.finished
    text = out.getvalue()
    assert "GPU0" in text  # the devices' last state is still shown
    assert not any(line.startswith(("finished:", "interrupted:", "aborted:")) for line in text.splitlines())


def test_follow_prints_the_closing_lines_of_a_finished_run() -> None:
    out = io.StringIO()
    follow(Source(f.finished_run()), refresh=60, out=out)
    assert any(line.startswith("finished: ") for line in out.getvalue().splitlines())


def test_a_second_signal_within_a_second_is_the_same_stop() -> None:
    """srun delivers SIGTERM twice, milliseconds apart, at a job's time limit: one request.
    A signal later than SAME_REQUEST_S after the first means stop now."""
    coord = Coordinator(parse_gpus("sim:1"), [])
    aborted = []

    def stop(now: bool = False) -> None:  # as Run.stop: the coordinator's stop, and at once the workers'
        coord.stop(now=now)
        if now:
            aborted.append(True)

    run = SimpleNamespace(coord=coord, stop=stop)
    stopper = Stopper(run, grace=20.0)
    stopper.handler(signal.SIGTERM, None)
    stopper.handler(signal.SIGTERM, None)  # the same request again
    assert coord.stopping and not coord.stop_now and not stopper.hard and not aborted
    stopper.first -= SAME_REQUEST_S  # as if the first came a second ago
    with pytest.raises(HardStop):
        stopper.handler(signal.SIGTERM, None)
    assert coord.stop_now and stopper.hard and aborted
