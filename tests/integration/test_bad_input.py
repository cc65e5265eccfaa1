"""Every bad input: exit 2, one line on stderr, no traceback, nothing under --out."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pytest

from virnucpro_bridge.hardware import discovery

from .conftest import REPO, env_with, write_fasta

HAS_CUDA = bool(discovery.cuda_devices())
no_cuda_only = pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA devices")


def lbtui_raw(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lbtui.cli", "run", *args], cwd=REPO, env=env_with(),
                          capture_output=True, text=True, timeout=60)


def assert_usage_error(proc: subprocess.CompletedProcess, out, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lbtui: error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert not out.exists(), f"{out} was created"
    assert proc.stdout == ""


@pytest.fixture
def good(tmp_path):
    return write_fasta(tmp_path / "in" / "good.fa", 3)


def check(tmp_path, inputs, *options: str, expect: tuple[str, ...] = ()) -> None:
    out = tmp_path / "out"
    proc = lbtui_raw(["--headless", "--out", str(out), *options, *[str(p) for p in inputs]])
    assert_usage_error(proc, out, *expect)


def test_no_inputs_found(tmp_path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("no fasta here\n")
    check(tmp_path, [folder], "--gpus", "sim:1", expect=("no FASTA inputs found",))


def test_nonexistent_path(tmp_path, good) -> None:
    check(tmp_path, [good, tmp_path / "missing.fa"], "--gpus", "sim:1", expect=("missing.fa",))


def test_unreadable_path(tmp_path, good) -> None:
    locked = write_fasta(tmp_path / "in" / "locked.fa", 2)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions do not stop reads")
        check(tmp_path, [tmp_path / "in"], "--gpus", "sim:1", expect=("locked.fa",))
    finally:
        locked.chmod(0o644)


@pytest.mark.parametrize("content, name", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "image.fa"),
    (b"just some text\nwithout any header\n", "notes.fa"),
    (b"ACGTACGT\n>late_header\nACGT\n", "headless.fa"),
], ids=["binary", "no-headers", "sequence-before-header"])
def test_not_fasta(tmp_path, good, content, name) -> None:
    bad = tmp_path / "in" / name
    bad.write_bytes(content)
    check(tmp_path, [tmp_path / "in"], "--gpus", "sim:1", expect=(name,))


def test_corrupt_gzip(tmp_path, good) -> None:
    data = gzip.compress(b">a\nACGT\n" * 100)
    (tmp_path / "in" / "broken.fa.gz").write_bytes(data[: len(data) // 2])
    check(tmp_path, [tmp_path / "in"], "--gpus", "sim:1", expect=("broken.fa.gz",))


def test_only_empty_fasta(tmp_path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.fa").write_text("")
    check(tmp_path, [tmp_path / "in"], "--gpus", "sim:1", expect=("empty",))


@pytest.mark.parametrize("spec", [
    "garbage", "sim:", "sim:0", "sim:-1", "sim:1,,2", "sim:fast", "cpu:0", "cpu:x", "", "0,0", "99",
    pytest.param("0", marks=no_cuda_only), pytest.param("all", marks=no_cuda_only),
    pytest.param("0,1", marks=no_cuda_only),
])
def test_bad_gpus(tmp_path, good, spec) -> None:
    check(tmp_path, [good], f"--gpus={spec}", expect=("--gpus",))


def test_out_not_writable(tmp_path, good) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker / "results"
    proc = lbtui_raw(["--headless", "--gpus", "sim:1", "--out", str(out), str(good)])
    assert_usage_error(proc, out, "--out")


@pytest.mark.parametrize("task, gpus, fragment", [
    ("nosuch", "cpu:1", "unknown task"),
    ("nosuch_pkg.mod:Task", "cpu:1", "cannot import"),
    (":Task", "cpu:1", "package.module:Class"),
    ("virnucpro_bridge.inputs.units:Unit", "cpu:1", "not a lbtui Task"),
    ("virnucpro", "sim:1,1", "sim"),
    ("tests.helpers.tasks:FlakyTask", "sim:1", "sim"),
])
def test_bad_task(tmp_path, good, task, gpus, fragment) -> None:
    check(tmp_path, [good], "--gpus", gpus, "--task", task, expect=(fragment,))


@pytest.mark.parametrize("where", ["under-a-file", "folder"])
def test_metrics_log_not_writable(tmp_path, good, where) -> None:
    # (a folder that does not exist yet is fine: it is created, e.g. inside a new --out)
    target = good / "m.csv" if where == "under-a-file" else tmp_path
    check(tmp_path, [good], "--gpus", "sim:1", "--metrics-log", str(target), expect=("--metrics-log",))


def test_out_is_a_file(tmp_path, good) -> None:
    out = tmp_path / "results"
    out.write_text("not a folder")
    proc = lbtui_raw(["--headless", "--gpus", "sim:1", "--out", str(out), str(good)])
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert out.read_text() == "not a folder"


@pytest.mark.parametrize("split_min, shard_size", [("100", "10"), ("5k", "1k"), ("2s", "500ms")])
def test_a_smallest_piece_larger_than_the_largest_is_refused(tmp_path, good, split_min, shard_size) -> None:
    check(tmp_path, [good], "--gpus", "sim:1", "--split-min", split_min, "--shard-size", shard_size,
          expect=("is larger than --shard-size", "--split-min "))
