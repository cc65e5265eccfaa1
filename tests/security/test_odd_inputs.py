"""Only regular files are inputs, and what cannot be read says why in one line (exit 2).

A FIFO named like a FASTA file used to hang the run, a symbolic link to /dev/zero grew
until a MemoryError traceback, a header that is not UTF-8 read as "binary data", and a
protein file failed unit by unit at run time (exit 1, never retried).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, make_inputs
from virnucpro_bridge.errors import InputError
from virnucpro_bridge.inputs import fasta
from virnucpro_bridge.inputs.plan import plan_units
from virnucpro_bridge.inputs.units import discover
from virnucpro_bridge.tasks.virnucpro import VirNucProTask

TIMEOUT_S = 60  # a refused input is refused in about a second; a hang fails here instead of hanging the suite


def lbtui_run(inputs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lbtui.cli", "run", "--headless", "--gpus", "sim:1", "--out",
                           str(out), *extra, str(inputs)], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def refused(result: subprocess.CompletedProcess, out: Path) -> str:
    """The one error line of a run refused at the scan, which wrote nothing."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lbtui: error: "), result.stderr
    assert not out.exists()
    return lines[0]


@pytest.mark.slow
def test_a_fifo_among_the_inputs_is_refused_not_waited_on(tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 2, seqs=3)
    os.mkfifo(inputs / "pipe.fa")
    line = refused(lbtui_run(inputs, tmp_path / "out"), tmp_path / "out")
    assert f"{inputs / 'pipe.fa'} (a FIFO)" in line and "only regular files are inputs" in line


@pytest.mark.slow
def test_a_link_to_a_device_is_refused_not_read(tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 1, seqs=3)
    (inputs / "zero.fa").symlink_to("/dev/zero")
    line = refused(lbtui_run(inputs, tmp_path / "out"), tmp_path / "out")
    assert f"{inputs / 'zero.fa'} (a character device, through a symbolic link to /dev/zero)" in line


@pytest.mark.slow
def test_a_fifo_given_by_name_is_refused(tmp_path) -> None:
    os.mkfifo(tmp_path / "pipe.fa")
    line = refused(lbtui_run(tmp_path / "pipe.fa", tmp_path / "out"), tmp_path / "out")
    assert "(a FIFO)" in line


def test_every_odd_input_is_named_on_one_line(tmp_path) -> None:
    make_inputs(tmp_path, 1, seqs=1)
    os.mkfifo(tmp_path / "a.fa")
    (tmp_path / "b.fa").symlink_to("/dev/null")
    (tmp_path / "c.fa").symlink_to(tmp_path / "nowhere.fa")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "d.fa"))
    try:
        with pytest.raises(InputError) as err:
            discover([str(tmp_path)])
    finally:
        server.close()
    text = str(err.value)
    assert "\n" not in text
    for name, kind in (("a.fa", "a FIFO"), ("b.fa", "a character device"), ("c.fa", "a broken symbolic link"),
                       ("d.fa", "a socket")):
        assert f"{tmp_path / name} ({kind}" in text


@contextlib.contextmanager
def fed(fifo: Path) -> Iterator[None]:
    """A writer waits on ``fifo`` with one record, so a reader that opened it anyway gets
    data and an end instead of hanging the test; it is let go afterwards either way."""
    writer = threading.Thread(target=fifo.write_bytes, args=(b">x\nACGT\n",), daemon=True)
    writer.start()
    try:
        yield
    finally:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets a writer still waiting to open go on
        writer.join(10)
        os.close(fd)


def test_a_file_swapped_for_a_fifo_after_discovery_is_refused_by_the_scan(tmp_path) -> None:
    fifo = tmp_path / "late.fa"
    os.mkfifo(fifo)
    with fed(fifo), pytest.raises(InputError, match=r"late\.fa: not a regular file \(a FIFO\)"):
        fasta.scan(fifo, 10)
    with fed(fifo), pytest.raises(InputError, match="not a regular file"):
        list(fasta.iter_records(fifo))


@pytest.mark.slow
def test_a_header_that_is_not_utf8_says_so(tmp_path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cafe.fa").write_bytes(b">ok\nACGT\n>caf\xe9 au lait\nACGT\n")
    line = refused(lbtui_run(tmp_path / "in", tmp_path / "out"), tmp_path / "out")
    assert line == (f"lbtui: error: {tmp_path / 'in' / 'cafe.fa'}: line 3: header is not UTF-8 text "
                    "(byte 0xe9 at column 5); save the file as UTF-8")


PROTEIN = b">p1 a protein\nMKVLEEFIQPLLKWWA\n>p2\nMSTNPKPQRK\n"


def test_a_protein_file_is_refused_by_a_nucleotide_task_at_the_scan(tmp_path) -> None:
    (tmp_path / "prot.faa").write_bytes(PROTEIN)
    (tmp_path / "dna.fa").write_bytes(b">d\nACGTNNRYacgu\n")
    files = discover([str(tmp_path)])
    with pytest.raises(InputError) as err:
        plan_units(files, alphabet=VirNucProTask.alphabet)
    assert str(err.value) == (f"{tmp_path / 'prot.faa'}: line 2: not a nucleotide sequence "
                              "(character 'L' at column 4); a protein file?")
    assert plan_units(files).wholes  # a task that reads any letters (sim) takes it


@pytest.mark.slow
def test_a_protein_input_exits_2_before_any_worker_starts(tmp_path) -> None:
    models = tmp_path / "models"
    made = subprocess.run([sys.executable, "-m", "lbtui.cli", "models", "init-demo", str(models)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "prot.faa").write_bytes(PROTEIN)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "lbtui.cli", "run", "--headless", "--gpus", "cpu:1",
                             "--models", str(models), "--out", str(out), str(tmp_path / "in")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused(result, out).endswith("prot.faa: line 2: not a nucleotide sequence "
                                          "(character 'L' at column 4); a protein file?")
