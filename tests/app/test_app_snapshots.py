"""Screens as SVG, compared with the reviewed ones in __snapshots__/.

The apps under tests/snapshot_apps use a fake coordinator, a fixed clock, UTC
and no timers. After a deliberate change: ``make snapshot-update``, then look
at the report before committing the new SVGs.
"""

from __future__ import annotations

from pathlib import Path

APPS = Path(__file__).resolve().parents[1] / "snapshot_apps"


def test_four_gpus_paused_stalled_dead(snap_compare):
    assert snap_compare(APPS / "four_gpus.py", terminal_size=(120, 40))


def test_four_gpus_80x24(snap_compare):
    assert snap_compare(APPS / "four_gpus.py", terminal_size=(80, 24))


def test_sixteen_gpus(snap_compare):
    assert snap_compare(APPS / "sixteen_gpus.py", press=["down", "down"], terminal_size=(120, 40))


def test_sixteen_gpus_80x24(snap_compare):
    assert snap_compare(APPS / "sixteen_gpus.py", terminal_size=(80, 24))


def test_finished_banner(snap_compare):
    assert snap_compare(APPS / "finished.py", terminal_size=(120, 40))


def test_detail_screen(snap_compare):
    assert snap_compare(APPS / "four_gpus.py", press=["down", "down", "enter"], terminal_size=(120, 40))


def test_help_screen(snap_compare):
    assert snap_compare(APPS / "four_gpus.py", press=["question_mark"], terminal_size=(120, 40))


def test_quit_modal(snap_compare):
    assert snap_compare(APPS / "four_gpus.py", press=["q"], terminal_size=(120, 40))


def test_drain_modal(snap_compare):
    assert snap_compare(APPS / "four_gpus.py", press=["d"], terminal_size=(120, 40))
