"""The planner's compact bookkeeping (``plan._Left``) changes no plan.

The reference keeps what is left to plan the straightforward way (a tuple per
segment, a list of Python floats); every plan must come out the same, unit for unit.
"""

from __future__ import annotations

import pytest

from tests.helpers.plain_plan import PlainLeft
from virnucpro_bridge.inputs import plan as plan_module
from virnucpro_bridge.inputs.plan import plan_units
from virnucpro_bridge.tasks.virnucpro.chunking import chunk_count

from .test_planning import write_fasta


def parts(n: int) -> int:
    return max(1, chunk_count(n, 500))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("reference")
    shapes = [[300] * 40, [250], [], [80_000, 400, 30_000], [900] * 7, [120] * 300, [5_000] * 3]
    return [(str(write_fasta(folder / f"f{i}.fa", lengths, seed=i)), f"f{i}.fa") for i, lengths in enumerate(shapes)]


def resumed(whole) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Spans an earlier run finished: the middle third of every other file."""
    if whole.count < 3 or int(whole.rel[1:-3]) % 2:
        return []
    third = whole.count // 3
    return [((third, 0), (2 * third, 0))]


@pytest.mark.parametrize("kw", [
    {"devices": 4, "floor": 2_000.0, "parts": parts},
    {"devices": 3, "cap": 20_000.0, "parts": parts, "done": resumed},
    {"devices": 8, "floor_records": 50},
    {"devices": 0, "cap": 10_000.0},
    {"devices": 0, "done": resumed},
    {"devices": 0, "shard_size": 25},
], ids=["factoring", "capped-resume", "floor-records", "no-split-cap", "no-split-resume", "no-split-records"])
def test_the_plan_is_the_straightforward_one(files, monkeypatch, kw: dict) -> None:
    got = plan_units(files, **kw)
    monkeypatch.setattr(plan_module, "_Left", PlainLeft)
    want = plan_units(files, **kw)
    assert got.units == want.units and got.wholes == want.wholes and got.warnings == want.warnings
    assert len(got.units) > len(got.wholes)  # files were cut: the bookkeeping was exercised
