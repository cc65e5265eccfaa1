"""Pilot tests: keys in, commands to the (fake) coordinator out, screen checked."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from textual.widgets import DataTable

from lbtui.app import LbtuiApp
from lbtui.app.detail_screen import DeviceDetailScreen
from lbtui.app.event_log import EventLog
from lbtui.app.gpu_table import GpuTable
from lbtui.app.help_screen import HelpScreen
from lbtui.app.modals import Confirm, QuitModal
from virnucpro_bridge.control import snapshot as s

from . import fake as f


def make(snap=None, **kwargs):
    coordinator = f.FakeCoordinator(snap or f.four_gpus(), fail=kwargs.pop("fail", None))
    kwargs.setdefault("poll", False)
    app = LbtuiApp(coordinator, coordinator, clock=lambda: f.T0, **kwargs)
    return app, coordinator


async def settle(pilot) -> None:
    """Let command workers finish and their messages land."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for(pilot, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds; the timeout is generous, only to end a broken test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def toasts(app) -> list[str]:
    """The text of the notifications on screen, as the user reads them."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def cell(app, index: int, column: str) -> str:
    return app.query_one(GpuTable).cell(index, column)[0]


def log_text(app) -> str:
    return "\n".join(strip.text for strip in app.query_one(EventLog).lines)


async def test_shows_every_device_and_missing_readings_as_dash():
    app, _ = make()
    async with app.run_test(size=(120, 40)):
        table = app.query_one(GpuTable)
        assert table.row_count == 4
        assert cell(app, 1, "state") == "‖ paused"
        assert cell(app, 2, "state") == "! stalled"
        assert cell(app, 3, "state") == "✗ dead"
        assert cell(app, 3, "util") == "–" and cell(app, 3, "rate") == "–"
        assert "None" not in log_text(app) and "nan" not in cell(app, 3, "mem")
        assert "GPU0 ← GPU1  sample_17.fa  (1,234 seqs)" in log_text(app)


async def test_p_pauses_then_resumes_the_selected_device():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await settle(pilot)
        assert fake.calls == [("pause", 0)]
        assert cell(app, 0, "state") == "‖ paused"
        assert "pause GPU0: GPU0 paused" in log_text(app)
        assert log_text(app).count("GPU0 paused") == 1  # the engine's echo of it is not repeated
        await pilot.press("p")
        await settle(pilot)
        assert fake.calls[-1] == ("resume", 0)
        assert cell(app, 0, "state") == "▸ running"


async def test_j_k_and_arrows_move_between_devices():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(GpuTable)
        await pilot.press("j", "j")
        assert table.selected_index == 2
        await pilot.press("k")
        assert table.selected_index == 1
        await pilot.press("down")
        await pilot.press("p")  # device 2 is stalled, not paused: pause it
        await settle(pilot)
        assert fake.calls == [("pause", 2)]
        await pilot.press("up", "p")  # device 1 is paused: resume it
        await settle(pilot)
        assert fake.calls[-1] == ("resume", 1)


async def test_d_asks_before_draining():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await settle(pilot)
        assert fake.calls == [] and not isinstance(app.screen, Confirm)
        await pilot.press("d", "y")
        await settle(pilot)
        assert fake.calls == [("drain", 0)]
        assert cell(app, 0, "state") == "⇣ draining"
        assert "drain GPU0" in log_text(app)


async def test_drain_dialog_buttons_work_with_the_mouse():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("j", "d")
        await pilot.click("#yes")
        await settle(pilot)
        assert fake.calls == [("drain", 1)]


async def test_s_toggles_stealing_and_the_header_says_so():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await settle(pilot)
        assert fake.calls == [("set_stealing", False)]
        assert "stealing off" in str(app.query_one("#header-right").render())
        await pilot.press("s")
        await settle(pilot)
        assert fake.calls[-1] == ("set_stealing", True)


async def test_a_failing_command_is_logged_and_toasted():
    app, fake = make(fail={"pause": "GPU0 is dead"})
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("p")
        await settle(pilot)
        assert fake.calls == [("pause", 0)]
        assert "pause GPU0 failed: GPU0 is dead" in log_text(app)
        await wait_for(pilot, lambda: any("GPU0 is dead" in text for text in toasts(app)), "the error toast")
        assert any("pause GPU0 failed" in text for text in toasts(app))


async def test_q_with_units_in_flight_offers_stop_after_units():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        assert isinstance(app.screen, QuitModal)
        await pilot.press("a")
        await settle(pilot)
    assert fake.calls == [("stop", False)]
    assert app.return_code == 0


async def test_q_then_stop_now():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await pilot.click("#now")
        await settle(pilot)
    assert fake.calls == [("stop", True)]


async def test_ctrl_c_asks_too_and_cancel_keeps_running():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, QuitModal)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, QuitModal) and app.return_code is None
        assert fake.calls == []
        await pilot.press("q", "c")
        assert app.return_code is None and fake.calls == []


async def test_q_when_finished_quits_without_asking():
    app, fake = make(f.finished_run())
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.query_one("#banner").display
        assert app.return_code is None  # finished, but it stays until the user quits
        await pilot.press("q")
        await settle(pilot)
    assert fake.calls == [] and app.return_code == 0


async def test_exit_on_finish_closes_the_app():
    app, _ = make(f.finished_run(), exit_on_finish=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.return_code == 0  # exit() was called without a key press


async def test_enter_opens_the_detail_screen_and_escape_returns():
    app, _ = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("j", "j", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DeviceDetailScreen) and screen.index == 2
        assert screen.has_class("-stalled")
        assert "A100-SXM4-40GB" in str(screen.query_one("#detail-title").render())
        units = screen.query_one("#detail-units", DataTable)
        assert units.row_count == 12
        assert "2 stolen" in str(screen.query_one("#units-caption").render())
        assert screen.query_one("#detail-errors").display
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DeviceDetailScreen)
        assert app.query_one(GpuTable).selected_index == 2


async def test_clicking_a_row_selects_it_and_a_second_click_opens_it():
    app, _ = make()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(GpuTable)
        await pilot.click(GpuTable, offset=(10, 4))  # header is line 0: line 4 is device 3
        assert table.selected_index == 3
        await pilot.click(GpuTable, offset=(10, 4))
        await pilot.pause()
        assert isinstance(app.screen, DeviceDetailScreen)


async def test_help_opens_and_closes():
    app, _ = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_plus_and_minus_step_the_refresh_within_bounds():
    app, _ = make(refresh=2.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("plus")
        assert app.refresh_s == 3.0
        await pilot.press(*["plus"] * 6)
        assert app.refresh_s == 10.0
        await pilot.press(*["minus"] * 9)
        assert app.refresh_s == 0.5
        assert "⟳ 0.5s" in str(app.query_one("#header-right").render())


async def test_the_detail_screen_follows_refresh_changes():
    """+/- on the detail screen change how often it fetches, not only how
    often the main screen does (it used to keep the interval it opened with)."""

    class Counting(f.FakeCoordinator):
        details = 0

        def device_detail(self, index):
            self.details += 1
            return super().device_detail(index)

    coordinator = Counting(f.four_gpus())
    app = LbtuiApp(coordinator, coordinator, refresh=10.0, clock=lambda: f.T0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeviceDetailScreen) and screen.refresh_s == 10.0
        await pilot.press(*["minus"] * 5)
        assert app.refresh_s == 0.5 and screen.refresh_s == 0.5
        before = coordinator.details
        # Two fetches well before the 10 s interval it opened with could give one.
        await wait_for(pilot, lambda: coordinator.details - before >= 2, "two fetches at 0.5 s", timeout=5.0)


async def test_events_are_appended_once_and_gaps_are_said():
    app, fake = make()
    async with app.run_test(size=(120, 40)):
        log = app.query_one(EventLog)
        before = len(log.lines)
        app.apply_snapshot(fake.snapshot())  # the same events again
        assert len(log.lines) == before
        later = f.event(250, f.T0, s.EV_FAILURE, "error", "sample_99.fa failed after 3 attempts")
        app.apply_snapshot(replace(fake.snapshot(), time=f.T0 + 2, events=(later,)))
        text = log_text(app)
        assert "242 earlier events not shown" in text
        assert text.count("sample_99.fa failed") == 1 and log.last_seq == 250


async def test_log_is_bounded_and_keeps_the_users_place():
    app, fake = make(log_lines=50)
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(EventLog)
        events = tuple(f.event(100 + k, f.T0, s.EV_INFO, "info", f"line {k}") for k in range(120))
        app.apply_snapshot(replace(fake.snapshot(), time=f.T0 + 1, events=events))
        await pilot.pause()
        assert len(log.lines) == 50 and log.is_vertical_scroll_end
        log.scroll_to(y=0, animate=False)
        await pilot.pause()
        more = tuple(f.event(300 + k, f.T0, s.EV_INFO, "info", f"more {k}") for k in range(3))
        app.apply_snapshot(replace(fake.snapshot(), time=f.T0 + 2, events=more))
        await pilot.pause()
        assert log.scroll_y == 0  # did not jump to the end while the user reads


async def test_updates_keep_the_cursor_on_its_device():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("j", "j")
        table = app.query_one(GpuTable)
        snap = fake.snapshot()
        for k in range(5):
            devices = tuple(replace(d, units_done=d.units_done + k) for d in snap.devices)
            app.apply_snapshot(replace(snap, time=f.T0 + k, devices=devices))
        assert table.selected_index == 2
        assert cell(app, 0, "done") == str(snap.devices[0].units_done + 4)
        assert len(app.history[0]) == 5


async def test_64_devices_scroll_and_resizing_never_crashes():
    app, _ = make(f.many_gpus(64))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(GpuTable)
        assert table.row_count == 64
        await pilot.press("end")
        await pilot.pause()
        assert table.selected_index == 63 and table.scroll_y > 0
        for size in [(80, 24), (200, 60), (40, 10), (20, 5), (120, 40)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert table.selected_index == 63
        wide = [c.key for c, _ in table.layout_columns]
        assert "unit" in wide
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        narrow = [c.key for c, _ in table.layout_columns]
        assert {"idx", "name", "state", "util", "rate"} <= set(narrow) and "unit" not in narrow


async def test_polling_fetches_in_a_worker_and_survives_a_failing_source():
    class Flaky(f.FakeCoordinator):
        fails = 0

        def snapshot(self):
            if self.fails:
                self.fails -= 1
                raise ConnectionError("manager went away")
            return super().snapshot()

    flaky = Flaky(f.four_gpus())
    # The fetches are the test's own: a timer tick would start an exclusive fetch that
    # cancels the test's, and a cancelled fetch's failure is (rightly) never shown.
    app = LbtuiApp(flaky, flaky, refresh=3600, clock=lambda: f.T0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.query_one(GpuTable).row_count == 4, "the first snapshot's rows")
        flaky.fails = 1
        app.fetch_snapshot()
        await settle(pilot)
        assert "snapshot failed: ConnectionError: manager went away" in log_text(app)
        app.fetch_snapshot()
        await settle(pilot)
        assert not app.fetch_failed


async def test_a_split_reads_once_with_its_icon():
    split = f.event(8, f.T0, s.EV_SPLIT, "info", "GPU2 ⇶ split big.fa [1,200–2,000) from GPU0", device=2)
    base = f.four_gpus()
    app, _ = make(replace(base, events=(*base.events, split)))
    async with app.run_test(size=(120, 40)):
        text = log_text(app)
        assert "⇶ GPU2 split big.fa [1,200–2,000) from GPU0" in text and text.count("⇶") == 1


async def test_a_fetch_that_lands_after_the_widgets_are_gone_is_dropped():
    """Quitting while a fetch is in flight: its message arrives during shutdown (it crashed
    the app with NoMatches, seen in CI)."""
    from lbtui.app.messages import SnapshotFailed, SnapshotReady

    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.query_one(GpuTable).remove()
        await pilot.pause()
        app.on_snapshot_ready(SnapshotReady(fake.snapshot()))
        app.on_snapshot_failed(SnapshotFailed("Traceback ...\nConnectionError: gone"))
        assert not app.fetch_failed


async def test_no_devices_and_no_snapshot_yet_are_designed_states():
    app, _ = make(f.snapshot([]))
    async with app.run_test(size=(80, 24)):
        assert "no devices" in str(app.query_one("#table-empty").render())


async def test_a_changed_cell_is_drawn_at_once_and_unchanged_rows_are_not_touched():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(GpuTable)
        snap = fake.snapshot()
        devices = (replace(snap.devices[0], units_done=4_321), *snap.devices[1:])
        before = table.versions.get(1)
        app.apply_snapshot(replace(snap, devices=devices))  # same time: no new trend sample
        await pilot.pause()
        assert "4,321" in table.render_line(1).text  # line 0 is the header
        assert table.versions.get(1) == before  # device 1 did not change: its row is not drawn again


async def test_keys_under_a_dialog_do_not_reach_the_run():
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark", "p", "s", "d")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen) and fake.calls == []
        await pilot.press("escape", "d", "p", "s")
        await settle(pilot)
        assert isinstance(app.screen, Confirm) and fake.calls == []
        await pilot.press("n", "enter")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert len(app.screen_stack) == 2  # main + one detail screen, not two


async def test_a_theme_change_recolours_the_table():
    app, _ = make()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(GpuTable)
        before = table.cell(0, "util")[1]
        app.theme = "nord"
        await pilot.pause()
        await pilot.pause()
        after = table.cell(0, "util")[1]
        assert after != before and after.color is not None


async def test_the_header_says_when_snapshots_stop_coming():
    now = [f.T0]
    coordinator = f.FakeCoordinator(f.four_gpus())
    app = LbtuiApp(coordinator, coordinator, refresh=2.0, clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.snapshot is not None
        now[0] += 30  # ten refreshes without a new snapshot
        # No await between the clock's jump and the check: a snapshot the refresh timer
        # fetched meanwhile (a busy machine) would otherwise land first and be "fresh".
        app.show_header()
        assert "no update for 0:30" in str(app.query_one("#header-right").render())


async def test_a_timer_tick_while_the_header_is_torn_down_is_harmless():
    """The refresh timer can tick while the app shuts down, after the header's lines are
    removed and before the header itself (it crashed an attach pilot test with NoMatches)."""
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        right = app.query_one("#header-right")
        shown = str(right.render())
        await app.query_one("#header-left").remove()
        await pilot.pause()
        fake.snap = replace(fake.snap, time=f.T0 + 5, stealing=False)  # the tick's fetch brings it
        app._tick()  # must not raise (NoMatches: the header's lines are gone)
        await settle(pilot)
        assert app.is_running
        assert app.snapshot is not None and app.snapshot.time == f.T0 + 5  # the tick still fetched
        assert "stealing on" in shown and str(right.render()) == shown  # the torn header is not redrawn


async def test_the_trend_stops_when_the_run_has_finished():
    """Snapshots keep coming after the end (an older run's keep their clock moving):
    the Trend column keeps the live samples and the table the last figures."""
    app, fake = make()
    async with app.run_test(size=(120, 40)) as pilot:
        snap = fake.snapshot()
        for k in range(3):
            app.apply_snapshot(replace(snap, time=f.T0 + k))
        ended = replace(snap, time=f.T0 + 3, finished=True, exit_code=0)
        for k in range(4):
            app.apply_snapshot(replace(ended, time=f.T0 + 3 + k))
        await pilot.pause()
        assert len(app.history[0]) == 3
