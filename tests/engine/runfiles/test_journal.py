"""The run's append-only files: whole lines only, whatever the disk does."""

from __future__ import annotations

import errno
import json
import os

import pytest

from virnucpro_bridge.control.snapshot import RunEvent
from virnucpro_bridge.errors import OutputError, environment_error
from virnucpro_bridge.runfiles import journal as J


def test_repair_tail_cuts_only_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert J.repair_tail(path) == len(b'{"c": ')
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert J.repair_tail(path) == 0
    path.write_bytes(b"no newline at all")
    J.repair_tail(path)
    assert path.read_bytes() == b""
    assert J.repair_tail(tmp_path / "missing") == 0


def test_a_write_that_fails_half_way_leaves_no_half_line(tmp_path, monkeypatch) -> None:
    f = J.AppendFile(tmp_path / "m.jsonl", tmp_path)
    f.append_lines(['{"ok": 1}'])
    real_write = os.write

    def full_disk(fd, data):  # writes a few bytes, then the disk is full
        if len(data) > 4:
            real_write(fd, bytes(data[:4]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(J.os, "write", full_disk)
    with pytest.raises(OutputError) as err:
        f.append_lines(['{"torn": 2}'])
    monkeypatch.undo()
    assert str(err.value).startswith("no space left on device writing ")
    assert "run the same command again to resume" in str(err.value)
    assert (tmp_path / "m.jsonl").read_text() == '{"ok": 1}\n'
    f.append_lines(['{"next": 3}'])
    f.close()
    assert [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()] == [{"ok": 1}, {"next": 3}]


def test_events_are_written_once_each_with_their_fields(tmp_path) -> None:
    j = J.Journal(tmp_path)
    ev = [RunEvent(1, 10.0, "control", "info", "SIM0 paused", 0, action="pause"),
          RunEvent(2, 11.0, "failure", "error", "a.fa failed", 1, unit="a.fa")]
    j.new_events(ev)
    j.new_events(ev + [RunEvent(3, 12.0, "info", "info", "x")])
    j.close()
    rows = [json.loads(x) for x in (tmp_path / J.EVENTS).read_text().splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["action"] == "pause" and rows[1]["unit"] == "a.fa"


def test_metrics_file_has_one_header(tmp_path) -> None:
    J.Journal(tmp_path).close()
    J.Journal(tmp_path).close()
    assert (tmp_path / J.METRICS).read_text() == J.METRICS_HEADER


@pytest.mark.parametrize("code,words", [
    (errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only file system"),
    (errno.EDQUOT, "disk quota exceeded"),
])
def test_disk_errors_anywhere_are_environment_errors(code, words) -> None:
    msg = environment_error(OSError(code, "x", "/data/run1/units/x.json"), "/data/run1")
    assert msg.startswith(f"{words} writing /data/run1/units/x.json;")


def test_permission_and_io_errors_count_only_under_out() -> None:
    inside = OSError(errno.EACCES, "x", "/data/run1/units/x.json")
    outside = OSError(errno.EACCES, "x", "/inputs/a.fa")
    assert environment_error(inside, "/data/run1").startswith("permission denied writing")
    assert environment_error(outside, "/data/run1") is None
    assert environment_error(OSError(errno.EIO, "x", "/data/run1/a"), "/data/run1").startswith("I/O error")
    assert environment_error(ValueError("no"), "/data/run1") is None
    assert environment_error(OSError(errno.ENOENT, "x", "/data/run1/a"), "/data/run1") is None


def test_a_steal_keeps_its_sequence_count_and_session(tmp_path) -> None:
    from virnucpro_bridge.control.snapshot import StealEvent

    steal = StealEvent(8, 10.0, 1, 0, "big.fa#3", 400)
    j = J.Journal(tmp_path, run_id="s2", last_event=7)
    j.new_events([RunEvent(7, 9.0, "info", "info", "already written by the earlier session"),
                  RunEvent(8, 10.0, "steal", "info", "SIM1 stole big.fa#3", 1, steal, unit="big.fa#3")])
    j.close()
    (row,) = [json.loads(x) for x in (tmp_path / J.EVENTS).read_text().splitlines()]
    assert row["seq"] == 8 and row["sequences"] == 400 and row["run_id"] == "s2"
    assert (row["thief"], row["victim"], row["unit"]) == (1, 0, "big.fa#3")
