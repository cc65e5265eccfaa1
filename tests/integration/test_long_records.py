"""Long records on real worker processes (sim task, 500-residue parts): cut at plan time and
in flight, every part exactly once, a kill in the middle of a cut record then resume on other
devices, and no stall while a long record reports parts."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.helpers.wait import wait_for
from virnucpro_bridge.runfiles.manifest import ManifestEntry

from .conftest import read_manifest

PART = 500  # the sim task's part (residues)


def write_genomes(path: Path, lengths: list[int], seed: int = 0) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for i, n in enumerate(lengths):
            seq = "".join(rng.choice("ACGT") for _ in range(n))
            fh.write(f">g{i} genome\n" + "".join(seq[j:j + 80] + "\n" for j in range(0, n, 80)))
    return path


def parts_of(rows: list[dict], lengths: list[int]) -> list[tuple[int, int]]:
    """Every (record, part) the manifest's rows cover, in the order of their positions."""
    covered = []
    for r in sorted(rows, key=lambda r: (r["start"], r.get("part", 0))):
        last = r["start"] + r["count"] - 1
        for rec in range(r["start"], last + 1):
            k = max(1, -(-lengths[rec] // PART))
            first = r.get("part", 0) if rec == r["start"] else 0
            stop = r.get("end_part", 0) if rec == last and r.get("end_part", 0) else k
            covered += [(rec, p) for p in range(first, stop)]
    return covered


def every_part(lengths: list[int]) -> list[tuple[int, int]]:
    return [(i, p) for i, n in enumerate(lengths) for p in range(max(1, -(-n // PART)))]


def test_long_records_are_shared_by_every_device_at_plan_time_and_in_flight(tmp_path, run_lbtui) -> None:
    lengths = [400_000, 90_000, 300_000, 1_000]
    write_genomes(tmp_path / "in" / "genomes.fa", lengths)
    # An 8× device the plan treats as equal (--no-weighted): the first pieces of the slow
    # ones (1/6 of the work each, 3.3 s) outlast the ideal makespan (791k / 10 / 40k = 2 s),
    # so the fast one must cut a running chunk range once the queues are empty. (At 4× those
    # pieces end right at the ideal makespan, and whether a cut pays was up to timing.)
    res = run_lbtui(tmp_path / "in", "--gpus", "sim:1,1,8", "--no-weighted", "--sim-rate", "40000",
                    "--split-min", "10k", "--steal-interval", "0.2")
    assert res.code == 0, res.stderr
    rows = res.manifest()
    assert list(rows[0]) == list(ManifestEntry.__dataclass_fields__)  # the runner writes the reader's fields
    assert parts_of(rows, lengths) == every_part(lengths)  # every part once, in order
    inside = [r for r in rows if r["part"] or r["end_part"]]
    assert len(inside) >= 4 and {r["device_index"] for r in rows} == {0, 1, 2}
    summary = res.summary()
    assert summary["splits"] >= 1 and summary["sequences"] == len(lengths)  # a cut record counts once
    events = [json.loads(line) for line in (res.out / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "split" and "p" in e["message"].split("[")[1] for e in events)  # inside a record
    for r in rows:
        result = json.loads((res.out / r["output"]).read_text())
        assert (result["start"], result["part"], result["sequences"]) == (r["start"], r["part"], r["sequences"])


def test_kill_in_the_middle_of_a_cut_record_then_resume_on_other_devices(tmp_path, start_lbtui,
                                                                        run_lbtui) -> None:
    lengths = [600_000, 2_000]
    write_genomes(tmp_path / "in" / "one.fa", lengths)
    out = tmp_path / "out"
    proc = start_lbtui(tmp_path / "in", "--gpus", "sim:1,1,1", "--sim-rate", "20000", "--split-min", "20k",
                       out=out)
    wait_for(lambda: any(r["part"] or r["end_part"] for r in read_manifest(out)), timeout=90,
             what="a chunk range of the genome done")
    proc.kill()
    proc.wait(60)
    first = read_manifest(out)
    assert len(first) >= 1 and parts_of(first, lengths) != every_part(lengths)
    again = run_lbtui(tmp_path / "in", "--gpus", "sim:3,2", "--sim-rate", "20000", "--split-min", "35k",
                      out=out)
    assert again.code == 0, again.stderr
    rows = again.manifest()
    assert rows[: len(first)] == first  # kept as they were
    assert parts_of(rows, lengths) == every_part(lengths)  # the rest filled in exactly once
    assert again.summary()["files_skipped"] == len(first)


def test_a_long_record_reporting_parts_is_not_taken_for_a_stall(tmp_path, run_lbtui) -> None:
    """One 150,000-residue record as one unit (--no-split) takes ~3 s; the stall timeout is
    1 s, yet its parts keep arriving, so it is never flagged (nor restarted)."""
    write_genomes(tmp_path / "in" / "one.fa", [150_000])
    res = run_lbtui(tmp_path / "in", "--gpus", "sim:1", "--sim-rate", "50000", "--no-split",
                    "--stall-timeout", "1", "--stall-action", "restart")
    assert res.code == 0, res.stderr
    (row,) = res.manifest()
    assert row["seconds"] >= 2.5  # sleeps at least that long: well past the 1 s timeout
    events = [json.loads(line) for line in (res.out / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] in ("stall", "death")], events
    assert res.summary()["devices"][0]["restarts"] == 0
