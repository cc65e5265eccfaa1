"""``lbtui run``'s command line becomes one RunOptions, whole, with the engine's defaults."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace

import pytest

from lbtui import run_args
from virnucpro_bridge.errors import UsageError
from virnucpro_bridge.options import DEFAULTS, STALL_FLAG, RunOptions
from virnucpro_bridge.policy.sizes import parse_size


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_args.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["run", *argv])


def test_every_option_reaches_the_run_options() -> None:
    args = parse("--gpus", "sim:1,2", "--task", "sim", "--out", "o", "--no-steal", "--no-weighted",
                 "--steal-interval", "0.3", "--stall-timeout", "7", "--stall-action", "flag", "--retries", "5",
                 "--shard-size", "5M", "--no-split", "--split-min", "2s", "--grace", "4", "--refresh", "0.5",
                 "--progress-interval", "9", "--verbose", "--notify", "notify-send x",
                 "--notify-url", "https://hooks.example/x",
                 "--metrics-log", "m.csv", "--sim-rate", "1000", "--headless", "a.fa", "b.fa")
    options = run_args.run_options(args)
    assert options == RunOptions(
        inputs=("a.fa", "b.fa"), gpus="sim:1,2", task="sim", out="o", steal=False, weighted=False,
        steal_interval=0.3, stall_timeout=7.0, stall_action=STALL_FLAG, retries=5,
        shard_size=parse_size("5M"), split=False, split_min=parse_size("2s"), grace=4.0, refresh=0.5,
        progress_interval=9.0, verbose=True, notify="notify-send x", notify_url="https://hooks.example/x",
        metrics_log="m.csv", task_options=run_args.task_options(args), argv=options.argv)
    assert options.task_options["sim_rate"] == 1000.0
    assert not hasattr(options, "headless")  # the display's options stay with the UI


def test_the_parser_names_every_option_as_its_field_with_the_engine_default() -> None:
    args = parse("in.fa")
    engine_only = {"inputs", "task_options", "argv"}
    for field in fields(RunOptions):
        if field.name not in engine_only:
            assert getattr(args, field.name) == getattr(DEFAULTS, field.name), field.name
    options = run_args.run_options(args)
    assert options == replace(DEFAULTS, inputs=("in.fa",), task_options=options.task_options, argv=options.argv)


@pytest.mark.parametrize("bad, message", [
    ({"stall_action": "reboot"}, "--stall-action reboot: expected one of flag, restart"),
    ({"backend": "slurm"}, "--backend slurm: expected local or ray"),
    ({"split_min": "2m"}, "piece size: '2m': ambiguous"),
])
def test_bad_options_are_one_usage_error(bad: dict, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        RunOptions(**bad)
    assert str(caught.value).startswith(message)


def test_options_are_frozen_and_sizes_are_sizes() -> None:
    options = RunOptions(inputs=["x.fa"], shard_size=10, split_min="auto", task_options={"a": 1})
    assert options.inputs == ("x.fa",) and options.shard_size == parse_size("10")
    with pytest.raises(AttributeError):
        options.grace = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        options.task_options["a"] = 2  # type: ignore[index]
