"""``lbtui run --read-only``: closing its dashboard leaves the run going, with log lines."""

from __future__ import annotations

import json
import sys

import pytest

from lbtui import app as app_package
from lbtui.cli import main as cli

from .conftest import write_fasta

pytestmark = pytest.mark.slow  # a real run: spawned worker processes


class ClosedAtOnce:
    """A dashboard the user closes as soon as it opens (the quit dialog's "Close the dashboard")."""

    made: list[dict] = []

    def __init__(self, *args, **kwargs) -> None:
        ClosedAtOnce.made.append(kwargs)

    def run(self) -> None:
        return None


@pytest.mark.parametrize("read_only", [True, False])
def test_closing_a_read_only_dashboard_does_not_stop_the_run(tmp_path, monkeypatch, capsys, read_only):
    for i in range(6):
        write_fasta(tmp_path / "in" / f"f{i}.fa", 4)
    monkeypatch.setattr(app_package, "LbtuiApp", ClosedAtOnce)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    out = tmp_path / "out"
    argv = ["run", "--gpus", "sim:1", "--sim-rate", "200", "--refresh", "0.5", "--out", str(out),
            str(tmp_path / "in")]
    code = cli(argv + (["--read-only"] if read_only else []))
    captured = capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert ClosedAtOnce.made[-1]["read_only"] is read_only
    if read_only:  # the run went on to the end, in log lines
        total = summary["files_total"]
        assert code == 0 and summary["files_done"] == total and not summary["interrupted"]
        assert "dashboard closed; the run goes on" in captured.err
        assert any(line.startswith(f"finished: {total}/{total} units") for line in captured.out.splitlines())
    else:  # its own steerable dashboard closed: no new work after the units in flight
        assert summary["files_done"] < summary["files_total"]
