"""Resume decisions: which manifest lines let a unit be skipped."""

from __future__ import annotations

import json
from pathlib import Path

from virnucpro_bridge.inputs.units import Unit
from virnucpro_bridge.runfiles.folder_format import FORMAT
from virnucpro_bridge.runfiles.journal import Journal
from virnucpro_bridge.runfiles.manifest import ManifestEntry
from virnucpro_bridge.runfiles.outputs import Resume
from virnucpro_bridge.runfiles.vouch import digest


def unit(rel: str = "a.fa", sha: str = "s1") -> Unit:
    return Unit(rel, f"/in/{rel}", rel, 0, 1, 0, 5, 500, sha)


def completed_units(units: list[Unit], out: Path, task: str, fingerprint: str) -> set[str]:
    """uids of the whole-file units a resume would skip entirely."""
    resume = Resume(out, task, fingerprint)
    return {u.uid for u in units if resume.done(u) == [(u.begin, u.stop)]}


def write(out: Path, u: Unit, **overrides) -> None:
    (out / "units").mkdir(parents=True, exist_ok=True)
    (out / f"units/{u.rel}.json").write_text("{}")
    sha, size = digest(out / f"units/{u.rel}.json")
    entry = dict(file=u.rel, shard=0, device_index=0, device="sim0", sequences=5, seconds=0.1,
                 stolen=False, attempt=1, output=f"units/{u.rel}.json", sha256=u.sha256,
                 start=0, count=5, task="sim", fingerprint="fp", output_sha256=sha, output_size=size)
    entry.update(overrides)
    (out / "run.json").write_text(json.dumps({"format": FORMAT, "run_id": "r1"}))
    journal = Journal(out)
    journal.unit_done(ManifestEntry(**entry))
    journal.close()


def test_unit_is_kept_only_when_input_task_fingerprint_and_output_all_match(tmp_path) -> None:
    u = unit()
    write(tmp_path, u)
    assert completed_units([u], tmp_path, "sim", "fp") == {"a.fa"}
    assert completed_units([u], tmp_path, "sim", "other-models") == set()
    assert completed_units([u], tmp_path, "virnucpro", "fp") == set()
    assert completed_units([unit(sha="changed")], tmp_path, "sim", "fp") == set()
    (tmp_path / "units/a.fa.json").unlink()
    assert completed_units([u], tmp_path, "sim", "fp") == set()


def test_torn_last_line_is_dropped_before_the_next_line(tmp_path) -> None:
    u, v = unit("a.fa"), unit("b.fa")
    write(tmp_path, u)
    with open(tmp_path / "manifest.jsonl", "a") as fh:
        fh.write('{"file": "b.fa", "sha')  # a kill mid-line
    assert completed_units([u, v], tmp_path, "sim", "fp") == {"a.fa"}
    write(tmp_path, v)
    assert completed_units([u, v], tmp_path, "sim", "fp") == {"a.fa", "b.fa"}
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("{") and line.endswith("}") for line in lines)
