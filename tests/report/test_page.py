"""The report page on fixture run folders: figures, devices, failures, sessions, safety."""

from __future__ import annotations

from html import escape

from lbtui.report.page import build

from .htmlcheck import external_references, parse
from .runfolder import make_run

TIMELINE = "timeline of units per device"
CHARTS = ("throughput (sequences/s)", "GPU utilization (%)", "GPU memory used (%)")


def page_of(folder):
    html = build(folder)
    return html, parse(html)


def test_complete_run_has_every_figure_and_device(tmp_path) -> None:
    made = make_run(tmp_path / "run")
    html, page = page_of(made.path)
    assert page.figures() == [TIMELINE, *CHARTS]
    assert page.count("rect", "u", TIMELINE) == len(made.units) == 24
    text = page.all_text
    for name in made.devices:
        assert name in text
    assert "exit 0" in text and "makespan ÷ lower bound" in text
    assert "demo models: predictions are meaningless" in text
    assert "in/" in text and "more/extra.fa" in text  # run.json's inputs
    assert {"devices", "timeline", "metrics", "failures"} <= page.ids()
    assert external_references(html) == []


def test_every_failure_is_listed_with_its_error_line(tmp_path) -> None:
    made = make_run(tmp_path / "run", failures=3, exit_code=1)
    html, page = page_of(made.path)
    cells = page.all_text
    for unit, error in made.failures:
        assert unit in cells and error in cells  # the error line, unescaped back by the parser
    assert "errors.log (3 entries)" in cells
    assert page.count("path", "fail", TIMELINE) == 3 and page.count("path", "retry", TIMELINE) == 3
    assert "exit 1" in cells and "some units failed" in cells
    assert '<in> "file"' not in html  # user text is escaped in the source


def test_interrupted_run_with_pauses_drains_and_a_stop(tmp_path) -> None:
    made = make_run(tmp_path / "run", exit_code=130, interrupted=True, controls=True)
    _, page = page_of(made.path)
    assert "exit 130" in page.all_text and "interrupted" in page.all_text
    assert "3 not run" in page.all_text
    assert (
        page.count("rect", "pz", TIMELINE) == 1
        and page.count("rect", "dr", TIMELINE) == 1
        and page.count("rect", "so", TIMELINE) == 1
    )
    assert page.count("line", "stop", TIMELINE) == 1


def test_killed_run_without_summary_still_reports(tmp_path) -> None:
    made = make_run(tmp_path / "run", exit_code=None)
    _, page = page_of(made.path)
    text = page.all_text
    assert "unfinished" in text and "no summary.json" in text
    assert page.count("rect", "u", TIMELINE) == len(made.units)
    for name in made.devices:
        assert name in text


def test_a_resumed_run_is_one_run_in_two_sessions(tmp_path) -> None:
    """A resumed folder whose first session was killed (no end line): that session is rebuilt
    from its manifest lines and drawn in its own band, an hour's gap between the two."""
    made = make_run(tmp_path / "run", earlier=5)
    _, page = page_of(made.path)
    assert page.count("rect", "u", TIMELINE) == 24  # every unit, each in its session's band
    assert page.count("rect", "gap", TIMELINE) == 1
    text = page.all_text
    assert "Sessions" in text and "Each session" in text and "Session 1" in text and "Session 2" in text
    assert "24 done over 2 sessions (5 + 19)" in text
    assert "killed (no summary)" in text and "rebuilt from its manifest lines" in text
    assert "59:5" in text  # the gap, about an hour


def test_torn_last_manifest_line_is_skipped_and_said(tmp_path) -> None:
    made = make_run(tmp_path / "run", torn=True)
    _, page = page_of(made.path)
    assert page.count("rect", "u", TIMELINE) == 24
    assert "manifest.jsonl: 1 unreadable line(s) skipped" in page.all_text


def test_split_and_stolen_units_are_marked(tmp_path) -> None:
    made = make_run(tmp_path / "run", splits=3)
    _, page = page_of(made.path)
    assert page.count("rect", "sp", TIMELINE) == 3
    assert page.count("rect", "st", TIMELINE) == sum(1 for i in range(24) if i % 5 == 4)
    assert "Split units" in page.all_text and "big_0.fa" in page.all_text


def test_user_text_cannot_inject_markup(tmp_path) -> None:
    made = make_run(tmp_path / "run", units=3, file_name="<script>alert({i})</script>.fa", failures=1)
    html, page = page_of(made.path)
    assert page.count("script") == 0
    assert "<script>alert(0)</script>.fa" in " ".join(page.titles)
    assert "RTX <4090> & co" in page.all_text and "RTX &lt;4090&gt; &amp; co" in html


def test_large_run_draws_every_unit_within_size(tmp_path) -> None:
    made = make_run(tmp_path / "run", units=10_000, speeds=(2.5, 1.5, 1.0, 1.0, 0.9, 0.75))
    html, page = page_of(made.path)
    assert page.count("rect", "u", TIMELINE) == 10_000
    assert len(html.encode()) < 10 * 1024 * 1024
    assert external_references(html) == []


def test_devices_carry_the_dashboards_labels(tmp_path) -> None:
    """Lanes, legends and the device table name devices as the dashboard and the headless log do."""
    made = make_run(tmp_path / "run")
    html, page = page_of(made.path)
    for index, name in enumerate(made.devices):
        assert f'text-anchor="end">GPU{index}</text>' in html  # the timeline's lane
        assert f"<td>GPU{index}</td><td>{escape(name, quote=False)}</td>" in html  # the device table: label, then name


def test_where_each_devices_time_went_and_its_energy(tmp_path) -> None:
    made = make_run(tmp_path / "run")
    html, page = page_of(made.path)
    assert "time" in page.ids()
    text = page.all_text
    assert "waiting for input" in text and "GPU (copy + forward)" in text and "Wh per M seqs" in text
    # device 0 never waited (0 of 32 s), device 2 waited 16 of 48 s; device 0 drew 1.5 Wh
    assert "0.0 %" in text and "33.3 %" in text and "93.8 %" in text and "1.50 Wh" in text and "1,234.50" in text
