"""Small questions: confirm a drain, and what to do with work in flight on quit."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

# QuitModal results.
STOP_AFTER = "after"
STOP_NOW = "now"


class ConfirmDrain(ModalScreen[bool]):
    """Drain is not undone by a key press: ask first."""

    BINDINGS = [
        Binding("y", "answer(True)", "Drain"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, device: str, queued: int) -> None:
        super().__init__(classes="dialog-screen")
        self.device = device
        self.queued = queued

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content.assemble(("Drain ", "bold"), (self.device, "bold $accent"), ("?", "bold")),
                         classes="dialog-title")
            yield Static(
                f"It finishes its current unit, gives its {self.queued:,} queued "
                f"unit{'s' if self.queued != 1 else ''} back to the others and stops. "
                "It does not come back for this run.",
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content("Drain  [y]"), id="yes", variant="warning")
                yield Button(Content("Cancel  [n]"), id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class QuitModal(ModalScreen[str | None]):
    """Quit while units are in flight: stop after them, stop now, or stay."""

    BINDINGS = [
        Binding("a", "choose('after')", "Stop after units"),
        Binding("n", "choose('now')", "Stop now"),
        Binding("c,escape", "choose(None)", "Cancel"),
    ]

    def __init__(self, in_flight: int) -> None:
        super().__init__(classes="dialog-screen")
        self.in_flight = in_flight

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content.assemble(("Quit while ", "bold"),
                                          (f"{self.in_flight:,} unit{'s' if self.in_flight != 1 else ''}", "bold $warning"),
                                          (" are in flight?", "bold")), classes="dialog-title")
            yield Static(
                "No new work is handed out either way. Results already written are kept; "
                "a rerun with the same --out resumes the rest.",
                classes="dialog-body",
            )
            with Vertical(classes="dialog-choices"):
                yield Button(Content("Stop after units in flight  [a]"), id="after", variant="primary")
                yield Button(Content("Stop now (units in flight are lost)  [n]"), id="now", variant="error")
                yield Button(Content("Cancel  [c]"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#after", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"after": STOP_AFTER, "now": STOP_NOW}.get(event.button.id or ""))

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
