"""The next block is read, translated and tokenised in a prefetch thread while the models run
the current one: results are byte for byte those of running without it, also when the engine
cuts the unit in flight (the thread has read past the new stop) and when a bad record lies
past that stop (reading ahead finds it; the unit must not fail for it)."""

from __future__ import annotations

import random

import pytest

from virnucpro_bridge.tasks.virnucpro import task as task_module
from virnucpro_bridge.tasks.virnucpro.synthetic import coding_sequence, random_sequence

from .conftest import write_fasta
from .test_task import units_of


def _records(n: int, seed: int = 21):
    """Coding records, and every fourth non-coding (its chunks keep no frame: rows without scores)."""
    rng = random.Random(seed)
    return [(f"r{i}", random_sequence(rng, rng.randint(300, 1600)) if i % 4 == 2 else
             coding_sequence(rng, rng.randint(300, 1600))) for i in range(n)]


def _run(task, unit, out, prefetch: bool, progress=lambda n: None) -> tuple[int, bytes]:
    task.options["prefetch"] = prefetch
    try:
        done = task.run_unit(unit, out, progress)
    finally:
        task.options.pop("prefetch")
    return done, out.read_bytes()


class CutAfter:
    """The engine's side of a cut in flight: from the ``calls``-th report on, the unit stops
    ``ahead`` records after the position reported then, or right there (inside a record,
    at a chunk boundary) for 0: never before what is done."""

    def __init__(self, calls: int, ahead: int) -> None:
        self.calls, self.ahead = calls, ahead
        self.seen: list = []
        self.stop = None

    def __call__(self, done):
        self.seen.append(done)
        if self.stop is None and len(self.seen) >= self.calls:
            self.stop = (done[0] + self.ahead, 0) if self.ahead else tuple(done)
        return self.stop


@pytest.mark.parametrize("batched", [False, True])
def test_results_identical_with_and_without_prefetch(cpu_task, tmp_path, monkeypatch, batched):
    monkeypatch.setattr(task_module, "BLOCK_FRAMES", 8)
    monkeypatch.setattr(cpu_task.protein, "batched", batched)
    monkeypatch.setattr(cpu_task.nucleotide, "batched", batched)
    unit = units_of(write_fasta(tmp_path / "a.fa", _records(40)), 10_000)[0]
    inline = _run(cpu_task, unit, tmp_path / "inline.tsv", prefetch=False)
    ahead = _run(cpu_task, unit, tmp_path / "ahead.tsv", prefetch=True)
    assert inline == ahead and inline[0] == 40 and inline[1].count(b"\n") > 40
    assert b"\t\t\t\n" in inline[1]  # chunks that kept no frame are listed in their place
    # blocks: the same frames in the same order whatever the shards
    parts = [_run(cpu_task, u, tmp_path / f"p{i}.tsv", prefetch=True)
             for i, u in enumerate(units_of(tmp_path / "a.fa", 7))]
    assert b"".join(p[1].split(b"\n", 1)[1] for p in parts) == inline[1].split(b"\n", 1)[1]


@pytest.mark.parametrize("calls, ahead", [(2, 1), (2, 3), (3, 0), (4, 2)])
def test_a_cut_in_flight_gives_the_same_head_with_and_without_prefetch(cpu_task, tmp_path, monkeypatch,
                                                                       calls, ahead):
    monkeypatch.setattr(task_module, "BLOCK_FRAMES", 8)
    unit = units_of(write_fasta(tmp_path / "b.fa", _records(30, seed=5)), 10_000)[0]
    results = []
    for prefetch in (False, True):
        cut = CutAfter(calls, ahead)
        results.append(_run(cpu_task, unit, tmp_path / f"cut{prefetch}.tsv", prefetch, cut))
        assert cut.stop is not None and results[-1][0] == cut.stop[0] + (cut.stop[1] > 0)  # records started
    assert results[0] == results[1]
    done, head = results[0]
    if not cut.stop[1]:  # the head is what running those records as their own unit writes
        whole = units_of(write_fasta(tmp_path / "head.fa", _records(30, seed=5)[:done]), 10_000)[0]
        assert _run(cpu_task, whole, tmp_path / "head.tsv", prefetch=True)[1] == head


def test_a_bad_record_past_the_stop_does_not_fail_the_head(cpu_task, tmp_path, monkeypatch):
    monkeypatch.setattr(task_module, "BLOCK_FRAMES", 8)
    records = _records(12, seed=8)
    records[6] = ("protein", "MKVLEEFIQPLLKWWQQ" * 10)  # not a nucleotide sequence
    unit = units_of(write_fasta(tmp_path / "c.fa", records), 10_000)[0]
    for prefetch in (False, True):
        with pytest.raises(Exception, match="record 'protein' is not a nucleotide sequence"):
            _run(cpu_task, unit, tmp_path / "whole.tsv", prefetch)
        cut = CutAfter(1, 0)  # the engine cut it at once, before record 6: the head never reaches it
        cut.stop = (4, 0)
        done, head = _run(cpu_task, unit, tmp_path / f"head{prefetch}.tsv", prefetch, cut)
        assert done == 4 and head.count(b"\n") > 4
