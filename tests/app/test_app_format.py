"""Formatting and layout rules, without a running app."""

from __future__ import annotations

import math

from lbtui import format as fmt
from lbtui.app.columns import choose_columns
from lbtui.app.refresh import next_refresh
from virnucpro_bridge.control import snapshot as s

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
    assert fmt.short_name("NVIDIA GeForce RTX 4090") == "RTX 4090"
    assert fmt.short_name("NVIDIA H100 80GB HBM3") == "H100 80GB HBM3"
    assert fmt.short_name("sim2 (x1.5)") == "sim2 (x1.5)"


def test_device_names_use_the_engines_label():
    """The table, the log and the headless lines all say SIM2, never sim2."""
    assert fmt.device_name(f.device(2, name="sim2 (x1.5)", kind="sim")) == "SIM2 (x1.5)"
    assert fmt.device_name(f.device(0, name="cpu0", kind="cpu")) == "CPU0"
    assert fmt.device_name(f.device(3, name="NVIDIA GeForce RTX 4090")) == "RTX 4090"
    assert fmt.device_labels(f.snapshot([f.device(0, kind="sim"), f.device(1)])) == {0: "SIM0", 1: "GPU1"}


def test_steal_lines_name_devices_by_label():
    st = s.StealEvent(seq=1, time=f.T0, thief=2, victim=0, unit="a.fa", sequences=1234)
    assert fmt.steal_line(st, {0: "SIM0", 2: "SIM2"}) == "SIM2 ← SIM0  a.fa  (1,234 seqs)"
    assert fmt.steal_line(st, {}, arrow="<-") == "2 <- 0  a.fa  (1,234 seqs)"


def test_row_states_show_a_pending_pause():
    assert fmt.row_state(f.device(0, paused=True)) == "pausing"
    assert fmt.row_state(f.device(0, paused=True, state="paused")) == "paused"
    assert fmt.row_state(f.device(0, stalled=True)) == "stalled"


def test_refresh_steps_stay_within_half_a_second_and_ten():
    assert next_refresh(2.0, 1) == 3.0 and next_refresh(2.0, -1) == 1.0
    assert next_refresh(10.0, 1) == 10.0 and next_refresh(0.5, -1) == 0.5
    assert next_refresh(2.5, 1) == 3.0 and next_refresh(2.5, -1) == 2.0


def test_headless_lines_use_the_shared_formatting():
    from lbtui.headless import device_line, event_line, run_line

    line = device_line(f.device(3, kind="sim", state="dead", utilization=None, memory=None, throughput=None))
    assert line.startswith("SIM3   dead ") and "util    –" in line and "None" not in line
    assert "elapsed 12:34, ETA 7:12" in run_line(f.four_gpus())
    steal = f.steal(1, f.T0, 0, 1, "a.fa", 12)
    assert event_line(steal, {0: "SIM0", 1: "SIM1"}) == "22:13:20 steal  SIM0 <- SIM1  a.fa  (12 seqs)"


def test_the_closing_line_of_a_run_stopped_before_it_closed_out_says_interrupted():
    """A second signal: the dispatcher may not close out in time, so the snapshot has
    no exit code or summary; the line must not say "finished" (a fault test saw it)."""
    from dataclasses import replace

    from lbtui.headless import summary_lines

    snap = replace(f.four_gpus(), exit_code=None, summary=None, error=None)
    assert summary_lines(snap, 130)[0].startswith("interrupted: ")
    assert summary_lines(snap, 130)[0].endswith(" s; run the same command again to resume")
    assert "resume" not in summary_lines(snap, 0)[0]


def test_the_header_and_detail_say_how_gpus_were_found_and_why_a_device_is_dead():
    from lbtui.app.detail_screen import metrics_content
    from lbtui.app.progress import header_left

    dead = f.device(1, state=s.DEAD, reason="retired: 3 units in a row failed on it (last: CUDA error)",
                    source="torch", memory_total=80 * 2**30)
    snap = f.snapshot([f.device(0, source="torch"), dead], device_source="torch")
    assert header_left("lbtui", snap).plain.endswith("2 devices (found by torch)")
    assert header_left("lbtui", f.snapshot([f.device(0)])).plain.endswith("1 device")  # sim, cpu: nothing
    detail = metrics_content(dead, f.T0).plain
    assert "why  retired: 3 units in a row failed on it (last: CUDA error)" in detail
    assert "device  80 GiB   found by torch" in detail
    assert "why" not in metrics_content(f.device(0), f.T0).plain
    assert fmt.device_source("nvml+torch") == "found by NVML + torch"


def test_the_detail_says_where_a_devices_time_went_its_energy_and_redone_batches():
    from dataclasses import replace

    from lbtui.app.detail_screen import metrics_content

    gpu = replace(f.device(0), kind="cuda", sequences_done=2_000_000, energy_wh=30.0,
                  time_split=(("input", 30.0), ("cpu", 10.0), ("gpu", 150.0), ("write", 10.0)),
                  task_counts=(("fp32_redone_batches", 2),))
    text = metrics_content(gpu, f.T0).plain
    assert "waiting input   15 %   0:30" in text and "host prep    5 %   0:10" in text
    assert "GPU copy+fwd   75 %   2:30" in text and "writing    5 %   0:10" in text
    assert "energy  30.0 Wh   15.00 Wh per M seqs" in text and "fp32 redone  2 batches" in text
    cpu = replace(gpu, kind="cpu", energy_wh=None)
    text = metrics_content(cpu, f.T0).plain
    assert "model forward   75 %" in text and "energy" not in text
    quiet = metrics_content(f.device(1), f.T0).plain  # nothing reported yet: no empty rows
    assert "waiting input" not in quiet and "energy" not in quiet


def test_the_closing_lines_of_a_resumed_run_also_say_the_whole_run():
    from dataclasses import replace

    from lbtui.headless import summary_lines

    summary = {"files_done": 29, "files_total": 29, "files_failed": 0, "sequences": 1767, "makespan_s": 9.5,
               "run": {"sessions": 3, "units": 29, "sequences": 2652, "wall_s": 26.7, "span_s": 36.3}}
    lines = summary_lines(replace(f.four_gpus(), exit_code=0, finished=True, summary=summary, error=None))
    assert lines[0].startswith("finished: 29/29 units, 0 failed, 1,767 seqs")
    assert lines[1] == "whole run: 3 sessions, 29 units, 2,652 seqs, 0:26 running over 0:36"
    one = {**summary, "run": {**summary["run"], "sessions": 1}}
    assert not any(x.startswith("whole run") for x in summary_lines(replace(f.four_gpus(), summary=one)))
