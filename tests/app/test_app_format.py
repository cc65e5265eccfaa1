"""Formatting and layout rules, without a running app."""

from __future__ import annotations

import math
import subprocess
import sys

from lbtui.app import format as fmt
from lbtui.app.app import next_refresh
from lbtui.app.gpu_table import choose_columns, short_name

from . import fake as f


def test_missing_values_are_a_dash_never_none_or_nan():
    for formatter in (fmt.compact, fmt.rate, fmt.percent, fmt.duration, fmt.clock):
        assert formatter(None) == fmt.DASH
        assert formatter(math.nan) == fmt.DASH
    assert fmt.count(None) == fmt.DASH


def test_numbers():
    assert fmt.count(1234567) == "1,234,567"
    assert fmt.compact(999) == "999" and fmt.compact(12_345) == "12.3k" and fmt.compact(4_560_000) == "4.6M"
    assert fmt.rate(12.34) == "12.3" and fmt.rate(1234.5) == "1,234" and fmt.rate(250_000) == "250k"
    assert fmt.duration(12) == "0:12" and fmt.duration(754) == "12:34" and fmt.duration(3754) == "1:02:34"
    assert fmt.duration(2 * 86_400 + 3 * 3600 + 4 * 60) == "2d 03:04"


def test_utilization_bands():
    assert fmt.util_level(80) == "high" and fmt.util_level(79.9) == "mid"
    assert fmt.util_level(50) == "mid" and fmt.util_level(49.9) == "low"
    assert fmt.util_level(None) is None


def test_spark_scales_to_the_peak_and_leaves_gaps_blank():
    assert fmt.spark([0, 5, 10], 3) == "▁▄█"  # half the peak is a half-height bar
    assert fmt.spark([None, 10], 4) == "   █"
    assert fmt.spark([0, 0], 2) == "▁▁"
    assert len(fmt.spark(list(range(50)), 20)) == 20


def test_state_text_shows_a_pending_pause_and_a_stall():
    assert fmt.state_text(f.device(0)) == "▸ running"
    assert fmt.state_text(f.device(0, paused=True)) == "‖ pausing"
    assert fmt.state_text(f.device(0, stalled=True)) == "! stalled"
    assert fmt.state_text(f.device(0, state="dead", stalled=True)) == "✗ dead"


def test_current_unit_keeps_the_end_of_long_names():
    view = f.device(0, current_unit="a_very_long_sample_name.fa#12", current_progress=0.5)
    text = fmt.current_unit(view, 18)
    assert len(text) == 18 and text.endswith("fa#12 50%") and text.startswith("…")


def test_columns_fit_the_width_most_important_first():
    keys = lambda width: [c.key for c, _ in choose_columns(width)]  # noqa: E731
    assert keys(120) == ["idx", "name", "state", "util", "mem", "rate", "trend", "queue", "done", "stolen", "unit"]
    narrow = keys(79)
    assert narrow[:3] == ["idx", "name", "state"] and "trend" in narrow and "unit" not in narrow
    assert sum(w + 2 for _, w in choose_columns(79)) <= 79
    assert "temp" in keys(200) and "power" in keys(200)
    assert keys(10) == [] or sum(w + 2 for _, w in choose_columns(10)) <= 10


def test_short_names():
    assert short_name("NVIDIA GeForce RTX 4090") == "RTX 4090"
    assert short_name("NVIDIA H100 80GB HBM3") == "H100 80GB HBM3"
    assert short_name("sim2 (x1.5)") == "sim2 (x1.5)"


def test_refresh_steps_stay_within_half_a_second_and_ten():
    assert next_refresh(2.0, 1) == 3.0 and next_refresh(2.0, -1) == 1.0
    assert next_refresh(10.0, 1) == 10.0 and next_refresh(0.5, -1) == 0.5
    assert next_refresh(2.5, 1) == 3.0 and next_refresh(2.5, -1) == 2.0


def test_the_engine_interfaces_do_not_pull_in_textual():
    # The app imports the contracts, never the other way round.
    code = "import virnucpro_bridge.control, virnucpro_bridge.snapshot, sys; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
