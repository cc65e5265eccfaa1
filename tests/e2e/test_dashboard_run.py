"""The real dashboard on a real run with simulated devices (no fakes)."""

from __future__ import annotations

import pytest

from lbtui.app import LbtuiApp
from lbtui.app.modals import QuitModal
from tests.helpers.wait import wait_for_async
from virnucpro_bridge.options import RunOptions
from virnucpro_bridge.runner import Run

pytestmark = pytest.mark.slow  # a real run: spawned worker processes

UNIT_RESIDUES = 2_000  # with --sim-rate 10,000: 0.2 s per unit on a speed-1 device


def make_inputs(folder, files: int) -> None:
    folder.mkdir()
    for i in range(files):
        (folder / f"f{i:03d}.fa").write_text(f">r{i}\n{'ACGT' * (UNIT_RESIDUES // 4)}\n")


async def wait_for(pilot, condition, what: str):
    """Poll ``condition`` while the app keeps running (refreshes, messages)."""
    return await wait_for_async(condition, what=what, pause=lambda: pilot.pause(0.1))


def row_of(app, index: int) -> list[str]:
    """What device ``index``'s row shows in its state and done columns."""
    from lbtui.app.gpu_table import GpuTable

    table = app.query_one(GpuTable)
    return [table.cell(index, column)[0] for column in ("state", "done")]


async def test_pause_stops_one_device_while_the_others_go_on(tmp_path):
    make_inputs(tmp_path / "in", 60)
    run = Run(RunOptions(inputs=[str(tmp_path / "in")], gpus="sim:1,1,1", out=str(tmp_path / "out"),
                        steal=False, refresh=0.5, steal_interval=0.5,
                        task_options={"sim_rate": 10_000.0, "sim_jitter": 0.0, "sim_seed": 0}))
    run.prepare()
    coord = run.start()
    app = LbtuiApp(coord, coord, refresh=0.5)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            def dev(i: int):
                return coord.snapshot().devices[i]

            def others_done() -> int:
                return dev(0).units_done + dev(2).units_done

            await wait_for(pilot, lambda: dev(1).units_done >= 1, "SIM1's first unit")
            await pilot.press("down")  # cursor from SIM0 to SIM1
            await pilot.press("p")
            await wait_for(pilot, lambda: dev(1).paused and dev(1).current_unit is None,
                           "SIM1 paused with no unit in flight")
            paused_done = dev(1).units_done
            others = others_done()
            # The others finish several units: time enough for SIM1 to have started
            # one, had the pause not held.
            await wait_for(pilot, lambda: others_done() >= others + 4, "the other devices going on")
            assert dev(1).units_done == paused_done and dev(1).current_unit is None
            await wait_for(pilot, lambda: any("paused" in cell for cell in row_of(app, 1))
                           and str(paused_done) in row_of(app, 1), "SIM1's row to say paused")
            await pilot.press("q")
            assert isinstance(app.screen, QuitModal)
            await pilot.press("n")  # stop now
            await wait_for(pilot, lambda: coord.snapshot().stopping, "the stop to reach the run")
    finally:
        if not run.finished:
            coord.stop(now=True)
        assert run.wait(timeout=60) == 130
    assert coord.summary["devices"][1]["files_done"] == paused_done
