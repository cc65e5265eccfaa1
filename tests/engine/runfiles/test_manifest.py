"""ManifestEntry: the one manifest line schema, written by the journal and read back by the reader."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from virnucpro_bridge.runfiles.journal import Journal
from virnucpro_bridge.runfiles.manifest import MANIFEST, ManifestEntry
from virnucpro_bridge.runfiles.reader import manifest_entries

FULL = ManifestEntry(
    file="a.fa", shard=2, device_index=1, device="GPU1", sequences=7, seconds=1.5, stolen=True,
    attempt=2, output="units/a.fa.json", sha256="in", start=10, count=7, task="sim", fingerprint="fp",
    run_id="r1", started=100.25, ended=101.75, split_from="a.fa#2", node="n1", part=3, end_part=4,
    output_sha256="out", output_size=42,
)


def test_every_field_is_written_and_read_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.unit_done(FULL)
    journal.close()
    line = json.loads((tmp_path / MANIFEST).read_text())
    assert list(line) == [f.name for f in fields(ManifestEntry)]
    assert manifest_entries(tmp_path) == [FULL]


def test_a_field_of_the_wrong_type_refuses_the_line() -> None:
    good = json.loads(FULL.line())
    assert ManifestEntry.from_record({**good, "seconds": 2, "unknown": "x"}) == ManifestEntry(
        **{**good, "seconds": 2})  # an int is a JSON number; unknown fields are ignored
    for field, value in [("count", True), ("count", 1.5), ("stolen", 1), ("seconds", False),
                         ("file", 3), ("output_size", "42")]:
        assert ManifestEntry.from_record({**good, field: value}) is None, field
    assert ManifestEntry.from_record({k: v for k, v in good.items() if k != "file"}) is None
