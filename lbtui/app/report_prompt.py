"""``r``: say where ``lbtui report`` will write, and write it on request.

The page is built from the run folder in a thread worker (a large run takes
a second or two), so the dashboard keeps refreshing meanwhile.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .. import format as fmt


class ConfirmReport(ModalScreen[bool]):
    """Write the run's report to ``target``?"""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Write"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, target: str, finished: bool) -> None:
        super().__init__(classes="dialog-screen")
        self.target = target
        self.finished = finished

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content.assemble(("Write the run's report?", "bold")), classes="dialog-title")
            when = "" if self.finished else " The run is still going: the page shows it up to now."
            yield Static(
                Content.assemble("One HTML page (timeline, throughput, devices, failures) at\n",
                                 (fmt.printable(self.target), "bold $accent"), f"\nSame as `lbtui report`.{when}"),
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content("Write  [y]"), id="yes", variant="primary")
                yield Button(Content("Cancel  [n]"), id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
