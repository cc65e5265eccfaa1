"""Run folders this lbtui did not write: from before 0.2 (run.json has no ``format``),
from a newer lbtui, or with a manifest and no run.json. Every command that reads a run
folder refuses them in one line naming the version (exit 2) and leaves them as they were."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lbtui.cli import main as cli
from virnucpro_bridge import __version__

OLD_RUN = {"run_id": "20250101T000000-1", "main_pid": 1, "argv": ["lbtui", "run", "in.fa"], "task": "sim",
           "start_epoch": 1_700_000_000.0, "devices": [{"index": 0, "device": "sim0"}]}
ROW = {"file": "in.fa", "shard": 0, "device_index": 0, "device": "sim0", "sequences": 2, "seconds": 0.1,
       "stolen": False, "attempt": 1, "output": "units/in.fa.json", "sha256": "ab", "start": 0, "count": 2,
       "task": "sim", "fingerprint": ""}
COMMANDS = (["report"], ["status"], ["attach"], ["verify"])


def folder(tmp_path: Path, run: dict | None) -> Path:
    out = tmp_path / "out"
    (out / "units").mkdir(parents=True)
    if run is not None:
        (out / "run.json").write_text(json.dumps(run))
    (out / "manifest.jsonl").write_text(json.dumps(ROW) + "\n")
    (out / "units" / "in.fa.json").write_text("{}")
    (out / "summary.json").write_text(json.dumps({"exit_code": 0, "makespan_s": 1.0}))
    return out


def contents(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(out.rglob("*"))}


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lbtui: error: "), err
    return err[0]


def run_args(tmp_path: Path, out: Path) -> list[str]:
    fa = tmp_path / "in.fa"
    fa.write_text(">a\nACGT\n>b\nACGT\n")
    return ["run", "--gpus", "sim:1", "--headless", "--out", str(out), str(fa)]


@pytest.mark.parametrize("command", [*COMMANDS, ["run"]], ids=lambda c: c[0])
def test_a_folder_from_before_0_2_is_refused_in_one_line(tmp_path, capsys, command) -> None:
    out = folder(tmp_path, OLD_RUN)
    before = contents(out)
    argv = run_args(tmp_path, out) if command == ["run"] else [*command, str(out)]
    assert cli(argv) == 2
    line = one_line(capsys)
    assert str(out) in line and "before lbtui 0.2" in line and f"lbtui {__version__}" in line
    assert contents(out) == before  # nothing written, nothing removed


def test_a_folder_of_a_newer_lbtui_is_refused_naming_it(tmp_path, capsys) -> None:
    out = folder(tmp_path, {**OLD_RUN, "format": 3, "lbtui": "0.9.1"})
    for command in COMMANDS:
        assert cli([*command, str(out)]) == 2
        line = one_line(capsys)
        assert "written by lbtui 0.9.1 (format 3)" in line and "upgrade" in line
    for odd in ("2", True, None, [2]):
        (out / "run.json").write_text(json.dumps({**OLD_RUN, "format": odd}))
        assert cli(["report", str(out)]) == 2
        assert "run.json's format is" in one_line(capsys)


def test_run_refuses_a_manifest_without_run_json(tmp_path, capsys) -> None:
    out = folder(tmp_path, None)
    before = contents(out)
    assert cli(run_args(tmp_path, out)) == 2
    line = one_line(capsys)
    assert "manifest.jsonl but no run.json" in line and "new --out" in line
    assert contents(out) == before


@pytest.mark.parametrize("command", [["report"], ["run"]], ids=lambda c: c[0])
def test_a_run_json_that_is_no_file_is_refused_without_blocking(tmp_path, capsys, command) -> None:
    out = folder(tmp_path, None)
    os.mkfifo(out / "run.json")  # reading it would wait for a writer forever
    argv = run_args(tmp_path, out) if command == ["run"] else [*command, str(out)]
    assert cli(argv) == 2
    assert "run.json: not a regular file" in one_line(capsys)
