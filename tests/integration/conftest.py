"""Fixtures for end-to-end runs: small FASTA inputs and ``lbtui run`` as a subprocess.

Units are sized with ``--sim-rate`` so each takes about 0.1-0.5 s: long
enough to act on a run while it goes, short enough for a fast suite.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.wait import wait_for

REPO = Path(__file__).resolve().parents[2]
LBTUI = [sys.executable, "-m", "lbtui.cli", "run"]
SEQ_LEN = 250  # residues per generated sequence
RUN_TIMEOUT_S = 120  # a hung run fails its test instead of the suite (generous: machines get loaded)


def write_fasta(path: Path, n_seqs: int, seed: int = 0, seq_len: int = SEQ_LEN) -> Path:
    rng = random.Random(f"{path.name}:{seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for j in range(n_seqs):
            fh.write(f">{path.stem}_s{j} synthetic\n")
            seq = "".join(rng.choice("ACGT") for _ in range(seq_len))
            fh.write(seq[: seq_len // 2] + "\n" + seq[seq_len // 2 :] + "\n")
    return path


def make_inputs(folder: Path, n_files: int, seqs: int | Callable[[int], int] = 20, seed: int = 0) -> Path:
    """``n_files`` FASTA files ``f00.fa`` ... under ``folder``; ``seqs`` per file (or f(i))."""
    for i in range(n_files):
        n = seqs(i) if callable(seqs) else seqs
        write_fasta(folder / f"f{i:02d}.fa", n, seed)
    return folder


class InProcessRuns:
    """Runs started in this process the way ``lbtui run`` starts them (spawned
    workers, the dispatcher thread), so a test can play the UI: call commands,
    read snapshots. ``close`` stops any still going."""

    def __init__(self, tmp_path: Path, **fixed) -> None:
        self.tmp_path, self.fixed = tmp_path, fixed  # RunOptions fields for every run (backend ...)
        self.runs: list = []

    def start(self, n_files: int, gpus: str, *, seqs: int = 12, sim_rate: float = 15_000.0, **cfg):
        from virnucpro_bridge.options import RunOptions
        from virnucpro_bridge.runner import Run

        inputs = make_inputs(self.tmp_path / "in", n_files, seqs=seqs)
        config = RunOptions(inputs=[str(inputs)], gpus=gpus, out=str(self.tmp_path / "out"), refresh=0.25,
                           task_options={"sim_rate": sim_rate}, argv=["lbtui", "run", "(test)"],
                           **self.fixed, **cfg)
        run = Run(config)
        run.prepare()
        run.start()
        self.runs.append(run)
        return run

    def close(self, wait_s: float) -> None:
        for run in self.runs:
            if not run.finished:
                run.coord.stop(now=True)
            run.wait(wait_s)
            run.close()  # gives --out's lock back: the next run in this process may use the folder


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    out: Path

    def manifest(self) -> list[dict]:
        return read_manifest(self.out)

    def summary(self) -> dict:
        return json.loads((self.out / "summary.json").read_text())


def read_manifest(out: Path) -> list[dict]:
    """Parsed manifest lines (a line torn by a kill is skipped, as resume does)."""
    path = out / "manifest.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


def env_with(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)  # no PYTHONPATH: user tasks load from the working folder, as for users
    env.pop("LBTUI_TEST_UNIT", None)
    env.update(extra or {})
    return env


def lbtui_args(inputs, out: Path, *extra: str) -> list[str]:
    paths = [str(p) for p in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    return [*LBTUI, "--headless", "--out", str(out), *extra, *paths]


@pytest.fixture
def run_lbtui(tmp_path: Path):
    """Run ``lbtui run --headless --out OUT ... INPUTS`` to the end; returns a Result."""

    def run(inputs, *extra: str, out: Path | None = None, env: dict | None = None,
            timeout: float = RUN_TIMEOUT_S) -> Result:
        out = out or tmp_path / "out"
        proc = subprocess.run(lbtui_args(inputs, out, *extra), cwd=REPO, env=env_with(env),
                              capture_output=True, text=True, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr, out)

    return run


@pytest.fixture
def start_lbtui(tmp_path: Path):
    """Start ``lbtui run`` in the background; returns the Popen (stdout piped as text).

    Processes still running at teardown are killed, with their workers.
    """
    started: list[subprocess.Popen] = []

    def start(inputs, *extra: str, out: Path | None = None, env: dict | None = None,
              new_session: bool = False) -> subprocess.Popen:
        out = out or tmp_path / "out"
        proc = subprocess.Popen(lbtui_args(inputs, out, *extra), cwd=REPO, env=env_with(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=new_session)
        started.append(proc)
        return proc

    yield start
    import psutil

    for proc in started:
        if proc.poll() is None:
            try:
                children = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                children = []
            proc.kill()
            for child in children:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
            proc.communicate(timeout=10)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting to be reaped counts as gone)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def run_json(out: Path) -> dict:
    """run.json once it is there (written atomically right after the workers start)."""
    path = out / "run.json"
    wait_for(path.exists, what=f"{path} to appear")
    return json.loads(path.read_text())


def unit_results(out: Path) -> dict[str, bytes]:
    """Result files by path relative to ``out/units`` (temp files left out)."""
    root = out / "units"
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".tmp-")}


def expected_ids_sha256(path: Path, start: int = 0, count: int | None = None) -> str:
    """What the sim task writes as ``ids_sha256`` for records [start, start+count)."""
    import hashlib

    ids = [line[1:].split()[0] for line in path.read_text().splitlines() if line.startswith(">")]
    chosen = ids[start:] if count is None else ids[start : start + count]
    h = hashlib.sha256()
    for i in chosen:
        h.update(i.encode() + b"\n")
    return h.hexdigest()


def tiles(rows: list[dict], n: int) -> bool:
    """The rows of one file's pieces cover records [0, n) once each, in order, every record run."""
    at = 0
    for r in sorted(rows, key=lambda r: r["start"]):
        if r["start"] != at or r["count"] != r["sequences"]:
            return False
        at += r["count"]
    return at == n


def span_of(row: dict) -> tuple[tuple[int, int], tuple[int, int]]:
    """A manifest row's [begin, stop) as positions (record, part); end_part 0: whole last record."""
    last = row["start"] + row["count"] - 1
    stop = (last, row["end_part"]) if row.get("end_part") else (last + 1, 0)
    return (row["start"], row.get("part", 0)), stop


def assert_each_unit_once(rows: list[dict], expected: set[tuple[str, int]]) -> None:
    """Every planned unit (file, shard) ran exactly once: as one row, or as the pieces
    an in-flight cut made of it (they keep its shard), which must follow each other
    with no gap and no overlap. Tests of other things need not forbid cuts."""
    pieces: dict[tuple[str, int], list] = {}
    for r in rows:
        pieces.setdefault((r["file"], r["shard"]), []).append(span_of(r))
    for key, spans in pieces.items():
        spans.sort()
        for (_, stop), (begin, _) in zip(spans, spans[1:], strict=False):
            assert stop == begin, f"{key} done more than once, or with a gap: {spans}"
    assert set(pieces) == expected


def pytest_collection_modifyitems(config, items) -> None:
    """Everything here starts worker processes: mark it ``slow`` (deselect with -m 'not slow')."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
