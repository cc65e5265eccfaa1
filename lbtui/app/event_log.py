"""The event log: steals, stalls, deaths, retries, failures and our own commands.

Events carry a run-wide sequence number; the log appends only events newer
than the last one it showed, so polling the same snapshot twice never
duplicates a line. It keeps at most ``max_lines`` lines and follows the end
unless the user has scrolled up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from rich.style import Style
from rich.text import Text
from textual.widgets import RichLog

from virnucpro_bridge.control import snapshot as snap

from .. import format as fmt

MAX_LINES = 1000  # a long run's story without growing memory with it

KIND_ICONS = {
    snap.EV_STEAL: "⇄",
    snap.EV_SPLIT: "⇶",
    snap.EV_STALL: "!",
    snap.EV_DEATH: "✗",
    snap.EV_RETRY: "↻",
    snap.EV_FAILURE: "✗",
    snap.EV_CONTROL: "›",
    snap.EV_INFO: "·",
    snap.EV_WARNING: "!",
    snap.EV_ERROR: "✗",
}


class EventLog(RichLog):
    """Bounded, colour-by-level log of run events (see the module docstring)."""

    COMPONENT_CLASSES = {
        "event-log--time",
        "event-log--info",
        "event-log--warning",
        "event-log--error",
        "event-log--steal",
        "event-log--control",
    }

    def __init__(self, *, max_lines: int = MAX_LINES, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, min_width=20, wrap=False, markup=False, id=id)
        self.last_seq = 0
        self.lines_written = 0
        # Replies to our own commands, already logged; the engine's control
        # event with the same text is then not logged a second time.
        self.echoed: deque[str] = deque(maxlen=32)
        self.tones: dict[str, Style] = {}  # line style by tone, until the CSS or theme changes
        self.in_batch = False

    def add_events(self, events: Iterable[snap.RunEvent], labels: Mapping[int, str]) -> int:
        """Append the events not shown yet, naming devices by ``labels``; returns how many were added."""
        fresh = [e for e in events if e.seq > self.last_seq]
        if not fresh:
            return 0
        if self.last_seq and fresh[0].seq > self.last_seq + 1:
            # The snapshot keeps only the last events; say so rather than hide the gap.
            skipped = fresh[0].seq - self.last_seq - 1
            self.add_line(fresh[0].time, f"… {skipped:,} earlier events not shown", "info", "·")
        self.in_batch = True
        try:
            for event in fresh:
                self.add_event(event, labels)
        finally:
            self.in_batch = False
        self.show_count()
        self.last_seq = fresh[-1].seq
        return len(fresh)

    def on_mount(self) -> None:
        self.border_title = "Events: none yet"

    def add_event(self, event: snap.RunEvent, labels: Mapping[int, str]) -> None:
        if event.kind == snap.EV_CONTROL and event.message in self.echoed:
            self.echoed.remove(event.message)
            return
        if event.kind == snap.EV_STEAL and event.steal is not None:
            message, tone = fmt.steal_line(event.steal, labels), "steal"
        elif event.kind == snap.EV_SPLIT:
            # The engine's line names the cut with the arrow ("GPU2 ⇶ split ..."); the icon already shows it.
            message, tone = event.message.replace(" ⇶ split ", " split ", 1), "steal"
        else:
            message = event.message
            tone = "control" if event.kind == snap.EV_CONTROL and event.level == "info" else event.level
        self.add_line(event.time, message, tone, KIND_ICONS.get(event.kind, "·"))

    def add_line(self, when: float, message: str, tone: str, icon: str = "›") -> None:
        """One line: time, icon, message in the colour of its tone (info, warning, error, steal, control).
        The message is text (names and errors from outside): never markup, one line, printable."""
        follow = self.is_vertical_scroll_end  # keep the user's place if they scrolled up
        line = Text.assemble(
            (fmt.clock(when), self.tone_style("time")),
            "  ",
            (f"{icon} {fmt.printable(message)}", self.tone_style(tone)),
            no_wrap=True,
            end="",
        )
        self.write(line, scroll_end=follow)
        self.lines_written += 1
        if not self.in_batch:
            self.show_count()

    def show_count(self) -> None:
        self.border_title = f"Events: {self.lines_written:,}" + (
            f" (last {self.max_lines:,} shown)" if self.max_lines and self.lines_written > self.max_lines else "")

    def tone_style(self, tone: str) -> Style:
        style = self.tones.get(tone)
        if style is None:
            name = f"event-log--{tone}"
            if name not in self.COMPONENT_CLASSES:
                name = "event-log--info"
            style = self.tones[tone] = self.get_component_rich_style(name, partial=True)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.tones.clear()  # a theme change colours new lines in its own colours
