"""`lbtui report` on the command line: output path, bad OUT, and a real run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .htmlcheck import external_references, parse
from .runfolder import make_run

REPO = Path(__file__).resolve().parents[2]


def lbtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lbtui.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_writes_report_html_in_out_and_prints_it(tmp_path) -> None:
    made = make_run(tmp_path / "run")
    res = lbtui("report", str(made.path))
    assert res.returncode == 0, res.stderr
    target = made.path / "report.html"
    assert res.stdout.strip() == str(target)
    assert len(parse(target.read_text()).figures()) == 4
    assert [p.name for p in made.path.iterdir() if p.name.startswith(".tmp-")] == []


def test_dash_o_writes_elsewhere(tmp_path) -> None:
    made = make_run(tmp_path / "run")
    res = lbtui("report", str(made.path), "-o", str(tmp_path / "pages" / "r.html"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "pages" / "r.html").is_file() and not (made.path / "report.html").exists()


@pytest.mark.parametrize("what", ["missing", "empty", "file"])
def test_bad_out_is_one_line_and_exit_2(tmp_path, what) -> None:
    out = tmp_path / "x"
    if what == "empty":
        out.mkdir()
    elif what == "file":
        out.write_text("hello")
    res = lbtui("report", str(out))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lbtui: error: ") and str(out) in lines[0]
    assert "Traceback" not in res.stderr
    if what == "missing":
        assert not out.exists()  # nothing created
    elif what == "empty":
        assert list(out.iterdir()) == []
    else:
        assert out.read_text() == "hello"


@pytest.mark.slow
def test_report_of_a_real_run(tmp_path) -> None:
    out = tmp_path / "out"
    run = lbtui("run", "--gpus", "sim:2,1", "--headless", "--refresh", "0.5", "--out", str(out),
                "--metrics-log", str(tmp_path / "m.csv"), "lbtui/demo_data")
    assert run.returncode == 0, run.stderr
    res = lbtui("report", str(out))
    assert res.returncode == 0, res.stderr
    html = (out / "report.html").read_text()
    page = parse(html)
    assert "GPU utilization (%)" in page.figures()  # from metrics.csv, or the --metrics-log CSV
    assert "SIM0" in page.all_text and "SIM1" in page.all_text  # the dashboard's labels
    assert "exit 0" in page.all_text
    assert external_references(html) == []
    manifest = (out / "manifest.jsonl").read_text().splitlines()
    if '"started"' in manifest[0]:  # a runner that records unit times draws them
        assert page.count("rect", "u", "timeline of units per device") == len(manifest)
    assert os.path.getsize(out / "report.html") > 0
