"""The one reader of a run folder's manifest: resume and the report read the same rows."""

from __future__ import annotations

import json
from pathlib import Path

from virnucpro_bridge.runfiles.folder_format import FORMAT
from virnucpro_bridge.runfiles.manifest import ManifestEntry
from virnucpro_bridge.runfiles.reader import load, manifest_entries


def row(**fields) -> dict:
    base = ManifestEntry("big.fa", 0, 0, "sim0", 10, 1.0, False, 1, "units/x.json", "ab", 0, 10, "sim", "",
                         "s1", 100.0, 101.0).__dict__
    return {**base, **fields}


def write_manifest(out: Path, lines: list[str]) -> None:
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"format": FORMAT, "run_id": "s1", "devices": [
        {"index": 0, "device": "sim0", "kind": "sim"}]}))
    (out / "manifest.jsonl").write_text("".join(line + "\n" for line in lines))


def test_torn_foreign_and_mistyped_lines_are_skipped_and_counted(tmp_path) -> None:
    out = tmp_path / "run"
    write_manifest(out, [json.dumps(row()), '{"file": "big.fa", "sta', json.dumps({"hello": 1}),
                         json.dumps(row(start="ten")), json.dumps(row(start=10, newer_field=[1, 2]))])
    problems: list[str] = []
    entries = manifest_entries(out, problems)
    assert [e.start for e in entries] == [0, 10]  # an unknown field is ignored, not fatal
    assert any("1 unreadable line" in p for p in problems)  # the torn one
    assert any("2 line(s) without a readable file/span" in p for p in problems)


def test_pieces_cut_in_flight_are_each_a_row_of_the_report(tmp_path) -> None:
    """Pieces cut from one planned unit keep its shard: the report tells them apart by span."""
    out = tmp_path / "run"
    write_manifest(out, [
        json.dumps(row(start=0, count=6, split_from="")),
        json.dumps(row(start=6, count=4, split_from="big.fa", device_index=0)),
        json.dumps(row(start=9, count=1, part=2, split_from="big.fa[6:10]")),
    ])
    units = load(out).units
    assert [u.uid for u in units] == ["big.fa", "big.fa[6:10]", "big.fa[9p2:10]"]


def test_a_span_redone_by_a_later_session_replaces_the_earlier_row(tmp_path) -> None:
    out = tmp_path / "run"
    write_manifest(out, [json.dumps(row(run_id="s0", seconds=9.0)), json.dumps(row(run_id="s1", seconds=2.0))])
    (unit,) = load(out).units
    assert unit.seconds == 2.0 and not unit.earlier


def test_the_next_session_numbers_its_events_after_every_earlier_one(tmp_path) -> None:
    from virnucpro_bridge.runfiles.reader import last_event_seq

    assert last_event_seq(tmp_path) == 0  # no events.jsonl yet
    lines = [json.dumps({"seq": n, "time": n, "kind": "info", "message": "x" * (n % 300)}) for n in range(1, 4007)]
    lines += ["not json", json.dumps({"kind": "info", "seq": 99999})]  # foreign: seq not first
    (tmp_path / "events.jsonl").write_text("".join(x + "\n" for x in lines) + '{"seq": 777777, "ti')
    assert last_event_seq(tmp_path) == 4006  # the torn last line (no newline) does not count
    (tmp_path / "events.jsonl").write_text(lines[0] + "\n" + json.dumps({"kind": "info", "m": "y" * 200_000}) + "\n"
                                           + '{"seq": 9, "m": "' + "z" * 150_000)  # lines longer than a block
    assert last_event_seq(tmp_path) == 1
