"""The detail screen's plots have axes; `r` writes the run's report on request."""

from __future__ import annotations

import json
from dataclasses import replace

from lbtui.app.modals import Confirm
from lbtui.app.plot import plot_lines, time_axis
from virnucpro_bridge.runfiles.folder_format import FORMAT

from . import fake as f
from .test_app_pilot import make, wait_for


def test_plot_has_value_and_time_axes() -> None:
    samples = [(1000.0 + 10 * i, float(i)) for i in range(31)]  # 0..30 over 300 s
    lines = plot_lines(samples, 60, 6, ceiling=None, unit=" seq/s")
    assert len(lines) == 6
    assert lines[0].lstrip().startswith("30") and "seq/s ┤" in lines[0]
    assert lines[3].lstrip().startswith("0.0 seq/s ┤")
    assert "└" in lines[4]
    assert lines[5].split()[0] == "0:00" and lines[5].split()[-1] == "5:00"
    assert lines[0].rstrip().endswith("█")  # the last sample is the peak: a full bar at the top


def test_plot_scales_from_zero_to_the_ceiling() -> None:
    lines = plot_lines([(0.0, 97.0), (60.0, 100.0)], 40, 5, ceiling=100.0, unit="%")
    assert lines[0].lstrip().startswith("100%")
    bars = [line.split("┤")[1] for line in lines[:3]]
    assert all(b.strip() for b in bars)  # 97-100 % fills the plot, it does not look like 0-100 %


def test_plot_without_samples_says_so() -> None:
    assert plot_lines([], 40, 5, ceiling=None, unit="%") == ["no samples yet"]
    assert time_axis(0.0, 20).strip().startswith("0:00")


async def test_r_asks_then_writes_the_report(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"format": FORMAT, "task": "sim", "devices": []}))
    (out / "manifest.jsonl").write_text("")
    app, _ = make(replace(f.four_gpus(), out_dir=str(out)))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, "first snapshot")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the report dialog")
        assert str(out / "report.html") in app.screen.body.plain
        await pilot.press("enter")  # Write has the focus
        await wait_for(pilot, lambda: (out / "report.html").exists(), "report.html", timeout=30)
        assert "<html" in (out / "report.html").read_text()


async def test_r_cancelled_writes_nothing(tmp_path) -> None:
    app, _ = make(replace(f.four_gpus(), out_dir=str(tmp_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, "first snapshot")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the report dialog")
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, Confirm), "the dialog closed")
        assert not (tmp_path / "report.html").exists()
