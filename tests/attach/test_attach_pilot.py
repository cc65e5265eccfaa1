"""The dashboard attached through the real channel client to an in-process server
over a fake coordinator: keys, read-only, detach versus stop, the run ending."""

from __future__ import annotations

import json
import time

from textual.widgets import Button, Static

from lbtui.app import LbtuiApp
from lbtui.app.gpu_table import GpuTable
from lbtui.app.help_screen import HelpScreen
from lbtui.app.modals import QuitModal
from lbtui.app.progress import FinishedBanner
from lbtui.remote import open_run
from tests.app import fake as f
from virnucpro_bridge.control import snapshot as S

from .conftest import app_wait, toasts

T0 = f.T0


def attach(served, *, read_only: bool = False, poll: bool = True, snap=None):
    s = served(snap)
    remote = open_run(str(s.out))
    app = LbtuiApp(remote, remote, attached=True, read_only=read_only, poll=poll, refresh=0.5,
                   clock=time.time, title="lbtui attach")
    return app, s.fake, s, remote


def state(app, index: int) -> str:
    return app.query_one(GpuTable).cell(index, "state")[0]


async def test_p_pauses_a_device_of_the_run_through_the_channel(served):
    app, fake, _, remote = attach(served)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app_wait(pilot, lambda: app.snapshot is not None, "the first snapshot")
        await pilot.press("p")
        await app_wait(pilot, lambda: state(app, 0) == "‖ paused", "GPU0 shown paused")
        assert fake.calls == [("pause", 0)]
        await pilot.press("p")
        await app_wait(pilot, lambda: fake.calls == [("pause", 0), ("resume", 0)], "the resume")
    remote.close()


async def test_read_only_keys_are_refused_with_a_notification(served):
    app, fake, _, remote = attach(served, read_only=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app_wait(pilot, lambda: app.snapshot is not None, "the first snapshot")
        for key in ("p", "d", "s"):
            await pilot.press(key)
        await app_wait(pilot, lambda: len(toasts(app)) >= 3, "three notifications")
        shown = toasts(app)
        assert len(shown) == 3 and all("read-only" in t for t in shown), shown
        assert not isinstance(app.screen, QuitModal) and fake.calls == []
        assert "(read-only)" in str(app.title)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "read-only" in str(app.screen.query_one("#help-text", Static).render())
        await pilot.press("escape")
        await pilot.press("q")
        assert isinstance(app.screen, QuitModal)
        assert [b.id for b in app.screen.query(Button)] == ["detach", "cancel"]  # no stop choice offered
        await pilot.press("a", "n")
        await pilot.pause()
        assert isinstance(app.screen, QuitModal)  # still asking: the stop keys are not bound
        await pilot.press("d")
        await app_wait(pilot, lambda: app.return_code is not None, "the app to exit")
    assert fake.calls == []
    remote.close()


async def test_q_then_d_detaches_and_the_run_goes_on(served):
    app, fake, s, remote = attach(served)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app_wait(pilot, lambda: app.snapshot is not None, "the first snapshot")
        await pilot.press("q")
        assert isinstance(app.screen, QuitModal)
        assert not app.screen.query_one("#after", Button).disabled
        await pilot.press("d")
        await app_wait(pilot, lambda: app.return_code is not None, "the app to exit")
    assert fake.calls == [] and not fake.snapshot().stopping
    remote.close()
    again = open_run(str(s.out))  # the run still serves: attach again
    assert again.snapshot().devices
    again.close()


async def test_q_then_a_stops_the_run_after_units_in_flight(served):
    app, fake, _, remote = attach(served)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app_wait(pilot, lambda: app.snapshot is not None, "the first snapshot")
        await pilot.press("q", "a")
        await app_wait(pilot, lambda: app.return_code is not None, "the app to exit")
    assert fake.calls == [("stop", False)]
    remote.close()


async def test_the_finished_banner_when_the_run_ends_and_its_channel_closes(served):
    app, fake, s, remote = attach(served)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app_wait(pilot, lambda: app.snapshot is not None, "the first snapshot")
        assert not app.query_one(FinishedBanner).display
        summary = {"makespan_s": 754.0, "files_total": 120, "files_done": 119, "files_failed": 1,
                   "sequences": 50_000, "steals": 3, "exit_code": 1, "finished_epoch": time.time() + 1,
                   "devices": [{"index": i, "name": "NVIDIA H100 80GB HBM3", "kind": "cuda", "files_done": 30,
                                "final_state": S.DONE} for i in range(4)]}
        (s.out / "summary.json").write_text(json.dumps(summary))
        s.close()  # the run's process exits
        await app_wait(pilot, lambda: app.query_one(FinishedBanner).display, "the finished banner")
        assert app.snapshot.finished and app.snapshot.exit_code == 1
        await app_wait(pilot, lambda: state(app, 0) == "✓ done", "the final device states")
        assert app.snapshot.units_in_flight == 0 and app.snapshot.units_done == 119
        assert app.snapshot.events == f.four_gpus().events  # the live log, not renumbered
        assert "finished" in str(app.query_one("#header").render()) or app.has_class("-finished")
        await pilot.press("q")  # finished: no question
        await app_wait(pilot, lambda: app.return_code is not None, "the app to exit")
    assert fake.calls == []


async def test_a_lost_connection_is_not_mistaken_for_the_end(served):
    app, fake, s, remote = attach(served)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app_wait(pilot, lambda: app.snapshot is not None, "the first snapshot")
        s.close()  # no summary: the run did not end, its channel went away
        await app_wait(pilot, lambda: app.fetch_failed, "the failed fetch")
        assert not app.snapshot.finished and not app.query_one(FinishedBanner).display
        # The toast is posted with the failure but mounted on a later refresh: wait for it.
        await app_wait(pilot, lambda: any("lost the connection to the run" in t for t in toasts(app)),
                       "the lost-connection toast")
        await pilot.press("p")
        await app_wait(pilot, lambda: any("pause GPU0 failed" in t for t in toasts(app)), "the refusal")
    assert fake.calls == []


async def test_a_finished_run_folder_shows_its_final_state(tmp_path):
    from .conftest import write_run_json
    from .test_channel import dead_pid

    out = tmp_path / "out"
    write_run_json(out, pid=dead_pid(), control=None, started=time.time() - 100)
    summary = {"makespan_s": 42.0, "files_total": 3, "files_done": 3, "files_failed": 0, "sequences": 300,
               "steals": 0, "exit_code": 0, "finished_epoch": time.time(), "task": "sim",
               "devices": [{"index": i, "name": f"sim{i}", "kind": "sim", "weight": 1.0, "files_done": 1 + i,
                            "sequences": 100, "busy_s": 10.0, "final_state": S.DONE} for i in range(2)]}
    (out / "summary.json").write_text(json.dumps(summary))
    source = open_run(str(out))
    app = LbtuiApp(source, source, attached=True, poll=True, refresh=0.5, clock=time.time)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app_wait(pilot, lambda: app.snapshot is not None, "the snapshot")
        assert app.query_one(FinishedBanner).display
        assert app.query_one(GpuTable).row_count == 2 and state(app, 1) == "✓ done"
        await pilot.press("q")
        await app_wait(pilot, lambda: app.return_code is not None, "the app to exit")


async def test_run_read_only_its_own_dashboard_cannot_stop_the_run():
    from lbtui import cli

    assert cli.build_parser().parse_args(["run", "--read-only", "inputs/"]).read_only
    fake = f.FakeCoordinator(f.four_gpus())
    app = LbtuiApp(fake, fake, read_only=True, poll=False, clock=lambda: T0)  # `lbtui run --read-only`
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("q")
        assert isinstance(app.screen, QuitModal)
        # only what it may do: close the dashboard, or cancel; no stop choice, shown or bound
        assert [b.id for b in app.screen.query(Button)] == ["detach", "cancel"]
        assert "Close the dashboard" in str(app.screen.query_one("#detach", Button).label)
        await pilot.press("a", "n")
        await pilot.pause()
        assert isinstance(app.screen, QuitModal) and fake.calls == []  # not bound: nothing happens
        await pilot.press("c")
        assert not isinstance(app.screen, QuitModal) and app.return_code is None
        await pilot.press("q", "d")
        await app_wait(pilot, lambda: app.return_code is not None, "the dashboard to close")
    assert fake.calls == []  # closed, never stopped: lbtui run goes on with log lines
