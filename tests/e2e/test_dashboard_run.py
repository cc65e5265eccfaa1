"""The real dashboard on a real run with simulated devices (no fakes)."""

from __future__ import annotations

import asyncio
import time

from lbtui.app import LbtuiApp
from lbtui.app.modals import QuitModal
from virnucpro_bridge.runner import Run, RunConfig

UNIT_RESIDUES = 2_000  # with --sim-rate 10,000: 0.2 s per unit on a speed-1 device


def make_inputs(folder, files: int) -> None:
    folder.mkdir()
    for i in range(files):
        (folder / f"f{i:03d}.fa").write_text(f">r{i}\n{'ACGT' * (UNIT_RESIDUES // 4)}\n")


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.1)


async def test_pause_stops_one_device_while_the_others_go_on(tmp_path):
    make_inputs(tmp_path / "in", 60)
    run = Run(RunConfig(inputs=[str(tmp_path / "in")], gpus="sim:1,1,1", out=str(tmp_path / "out"),
                        steal=False, refresh=0.5, steal_interval=0.5,
                        task_options={"sim_rate": 10_000.0, "sim_jitter": 0.0, "sim_seed": 0}))
    run.prepare()
    coord = run.start()
    app = LbtuiApp(coord, coord, refresh=0.5)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: coord.books[1].units_done >= 1)
            await pilot.press("down")  # cursor from SIM0 to SIM1
            await pilot.press("p")
            await wait_for(pilot, lambda: coord.books[1].paused and coord.books[1].in_flight is None)
            paused_done = coord.books[1].units_done
            others = coord.books[0].units_done + coord.books[2].units_done
            await asyncio.sleep(1.5)
            await pilot.pause(0.6)  # one more refresh reaches the screen
            assert coord.books[1].units_done == paused_done
            assert coord.books[0].units_done + coord.books[2].units_done > others
            table = app.query_one("DataTable")
            row = [str(cell) for cell in table.get_row_at(1)]
            assert any("paused" in cell for cell in row), row
            assert str(paused_done) in row
            await pilot.press("q")
            assert isinstance(app.screen, QuitModal)
            await pilot.press("n")  # stop now
            await pilot.pause(0.2)
    finally:
        if not run.finished:
            coord.stop(now=True)
        assert run.wait(timeout=30) == 130
    assert coord.summary["devices"][1]["files_done"] == paused_done
