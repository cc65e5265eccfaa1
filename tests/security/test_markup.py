"""Names are text, never markup: strings from inputs, devices and errors show as they are
in every view (table, event log, detail screen, dialogs, notifications, header, banner,
headless lines, attach), and no control character reaches the terminal.

Each name below is something a user can put in a file name, a FASTA record id or
--devices: Rich markup that does not close (a MarkupError crashed the detail screen and
ended the run), markup that would style or link, and escape sequences a terminal obeys.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from textual.widget import Widget

from lbtui import format as fmt
from lbtui.app import LbtuiApp
from lbtui.app.detail_screen import DeviceDetailScreen
from lbtui.app.modals import Confirm
from lbtui.headless import follow
from lbtui.remote import RemoteRun, open_run
from tests.app import fake as f
from tests.attach.conftest import write_run_json
from virnucpro_bridge.control import snapshot as s
from virnucpro_bridge.control.channel import ChannelServer

MARKUP = ("oops[/]", "[bold red]x[/]", "[link=file:evil]y", "[/]")
CONTROL = "\x1b]2;x\x07\u202e"  # sets the terminal's title; then runs right to left
NAMES = (*MARKUP, CONTROL)


def shown(name: str) -> str:
    """How a name reads on screen: itself, with control characters escaped."""
    return name.replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace("\u202e", "\\u202e")


def hostile_snapshot(**overrides) -> s.RunSnapshot:
    """Five devices named and working on the names above; events, notices and the run itself too."""
    devices = [f.device(i, name=name, current_unit=name, current_progress=None)
               for i, name in enumerate(NAMES)]
    events = tuple(f.event(i + 1, f.T0 - 60 + i, s.EV_FAILURE, "error", f"{name}.fa failed: {name}", i)
                   for i, name in enumerate(NAMES))
    events += (f.steal(len(events) + 1, f.T0 - 1, 0, 1, "[bold red]x[/].fa", 12),
               f.event(len(events) + 2, f.T0, s.EV_INFO, "info", "two\nlines: finished: 0 failed"),
               f.event(len(events) + 3, f.T0, s.EV_WARNING, "warning", "colour \x1b[31mred\x1b[0m"))
    base = dict(events=events, name="[/] inputs [b]x[/b]", task="[link=file:evil]sim",
                notices=("oops[/] notice", "[bold red]x[/]"))
    base.update(overrides)
    return f.snapshot(devices, **base)


def hostile_detail(view: s.DeviceView) -> s.DeviceDetail:
    detail = f.detail_for(view, points=20)
    units = tuple(replace(u, unit=NAMES[k % len(NAMES)] + ".fa", ok=k % 2 == 0,
                          error=None if k % 2 == 0 else f"{NAMES[k % len(NAMES)]} failed")
                  for k, u in enumerate(detail.units))
    view = replace(view, reason="retired: [/]oops[/]", task_notes=(("[b]note[/b]", "[/]budget"),))
    return replace(detail, device=view, units=units, errors=tuple(f"{n}: error [/]" for n in NAMES))


class HostileFake(f.FakeCoordinator):
    """The fake coordinator, with hostile names in its device details too."""

    def device_detail(self, index: int) -> s.DeviceDetail:
        return hostile_detail(self.snapshot().devices[index])


def screen_text(app) -> str:
    """Every line every widget on the current screen draws (toasts included), as plain text."""
    lines = []
    for widget in app.screen.walk_children(Widget):
        if widget.display and widget.size.height:
            lines += [widget.render_line(y).text for y in range(widget.size.height)]
    return "\n".join(lines)


def make(snap=None, **kwargs):
    fake = HostileFake(snap or hostile_snapshot(), fail=kwargs.pop("fail", None))
    kwargs.setdefault("poll", False)
    return LbtuiApp(fake, fake, clock=lambda: f.T0, **kwargs), fake


async def until(pilot, condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Let the app run until ``condition()`` holds; the timeout only ends a broken test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def assert_clean(text: str) -> None:
    """No character that a terminal would act on reaches it."""
    assert not any(ch in text for ch in "\x1b\x07\u202e"), repr(text)


async def test_the_table_header_notices_and_log_show_names_as_they_are() -> None:
    app, _ = make()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        for name in NAMES:
            assert fmt.fit_start(shown(name), 14) in text  # the Device column (14 cells)
            assert shown(name) in text  # the Current unit column, and the log
            assert f"{shown(name)}.fa failed: {shown(name)}" in text
        assert "[bold red]x[/].fa" in text  # a steal of it
        assert "[/] inputs [b]x[/b]" in text and "task [link=file:evil]sim" in text
        assert "oops[/] notice" in text
        assert "two\\nlines: finished: 0 failed" in text  # one event, one line
        assert "colour \\x1b[31mred\\x1b[0m" in text
        assert_clean(text)


async def test_the_detail_screen_shows_names_as_they_are() -> None:
    app, _ = make()
    async with app.run_test(size=(200, 60)) as pilot:
        for index, name in enumerate(NAMES):
            app.query_one("GpuTable").select_device(index)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, DeviceDetailScreen)
            text = screen_text(app)
            assert shown(name) in text.splitlines()[0]  # the title: its full name
            for other in NAMES:
                assert f"{shown(other)}.fa" in text  # its units
                assert f"{shown(other)}: error [/]" in text  # its errors
            assert "retired: [/]oops[/]" in text and "[b]note[/b]" in text and "[/]budget" in text
            assert_clean(text)
            await pilot.press("escape")
            await pilot.pause()


async def test_dialogs_and_notifications_show_names_as_they_are() -> None:
    out = "/tmp/[bold red]x[/] run/oops[/]"
    app, fake = make(hostile_snapshot(out_dir=out), fail={"pause": "[/]GPU0 [bold red]is dead[/]"})
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        for index in (1, 4):
            app.query_one("GpuTable").select_device(index)
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, Confirm)
            assert f"Drain GPU{index} ({shown(NAMES[index])})?" in screen_text(app)
            assert_clean(screen_text(app))
            await pilot.press("n")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert f"{out}/report.html" in screen_text(app)
        await pilot.press("n")
        app.query_one("GpuTable").select_device(0)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.calls == [("pause", 0)]
        await until(pilot, lambda: toasts(app), "the error toast")
        assert any("[/]GPU0 [bold red]is dead[/]" in t for t in toasts(app)), toasts(app)
        assert "pause GPU0 failed: [/]GPU0 [bold red]is dead[/]" in screen_text(app)


class FailsAfterOne(HostileFake):
    """A source whose snapshots fail (after the first) with an error naming a hostile file."""

    def __init__(self, snap) -> None:
        super().__init__(snap)
        self.taken = 0

    def snapshot(self) -> s.RunSnapshot:
        self.taken += 1
        if self.taken > 1:
            raise OSError("cannot read [bold red]x[/]/oops[/].fa\x1b[2J")
        return super().snapshot()


async def test_an_error_naming_a_file_is_toasted_and_logged_as_text() -> None:
    fake = FailsAfterOne(hostile_snapshot())
    app = LbtuiApp(fake, fake, clock=lambda: f.T0, poll=True, refresh=10.0)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await until(pilot, lambda: app.snapshot is not None, "the first snapshot")
        app.refetch()
        await until(pilot, lambda: toasts(app), "the error toast")
        assert any("cannot read [bold red]x[/]/oops[/].fa\\x1b[2J" in t for t in toasts(app)), toasts(app)
        text = screen_text(app)
        assert "snapshot failed: OSError: cannot read [bold red]x[/]/oops[/].fa\\x1b[2J" in text
        assert_clean(text)


async def test_the_finished_banner_shows_the_error_and_folder_as_they_are() -> None:
    snap = hostile_snapshot(finished=True, exit_code=3, error="disk full writing [/]oops[/].json",
                            out_dir="/data/[bold red]x[/]")
    app, _ = make(snap)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Run aborted: disk full writing [/]oops[/].json" in text
        assert "results in /data/[bold red]x[/]" in text


def toasts(app) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def test_headless_lines_show_names_as_they_are_one_line_each() -> None:
    snap = hostile_snapshot(finished=True, exit_code=0, summary={"files_total": 5, "files_done": 5})
    out = io.StringIO()
    follow(f.FakeCoordinator(snap), refresh=0.01, out=out)
    text = out.getvalue()
    assert_clean(text)
    for name in NAMES:
        assert f"{shown(name)}.fa failed: {shown(name)}" in text
        assert f"unit {shown(name)}" in text
    assert "notice: oops[/] notice" in text
    lines = text.splitlines()
    assert sum("two\\nlines: finished: 0 failed" in line for line in lines) == 1
    assert not any(line.startswith("lines:") for line in lines)  # no line forged by a name


@pytest.fixture
def hostile_run(tmp_path):
    """A live channel over HostileFake in a run folder, as ``lbtui attach`` finds it."""
    out = tmp_path / "[bold red]x[" / "] out"  # the run folder's path: .../[bold red]x[/] out
    out.mkdir(parents=True)
    fake = HostileFake(hostile_snapshot(out_dir=str(out)))
    server = ChannelServer(out, fake, run_id="test-run")
    control = server.start()
    assert control is not None, server.problem
    write_run_json(out, pid=os.getpid(), control=control)
    yield out
    server.close()


async def test_attach_shows_names_from_the_run_as_they_are(hostile_run) -> None:
    remote = open_run(str(hostile_run))
    assert isinstance(remote, RemoteRun)
    app = LbtuiApp(remote, remote, clock=lambda: f.T0, attached=True, refresh=10.0)
    try:
        async with app.run_test(size=(200, 60)) as pilot:
            await until(pilot, lambda: app.snapshot is not None, "the first snapshot")
            await pilot.pause()
            text = screen_text(app)
            for name in NAMES:
                assert f"{shown(name)}.fa failed: {shown(name)}" in text
            assert_clean(text)
            app.query_one("GpuTable").select_device(0)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DeviceDetailScreen) and app.screen.detail,
                        "the detail")
            await pilot.pause()
            text = screen_text(app)
            for name in NAMES:
                assert f"{shown(name)}.fa" in text
            assert_clean(text)
    finally:
        remote.close()
