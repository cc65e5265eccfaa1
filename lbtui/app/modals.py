"""Small questions: yes/no (drain a device, write the report), and what to do with work in flight on quit."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant

from .. import format as fmt

# QuitModal results.
STOP_AFTER = "after"
STOP_NOW = "now"
DETACH = "detach"  # attached or read-only dashboards: leave, the run goes on


class Confirm(ModalScreen[bool]):
    """A yes/no question: ``y`` or the yes button answers yes; ``n``, Escape or Cancel
    answer no. The focused button (``focus_yes``) is what Enter presses."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, title: Content, body: Content | str, yes: str, *, variant: ButtonVariant = "primary",
                 focus_yes: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.body, self.yes, self.variant, self.focus_yes = title, body, yes, variant, focus_yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content(f"{self.yes}  [y]"), id="yes", variant=self.variant)
                yield Button(Content("Cancel  [n]"), id="no")

    def on_mount(self) -> None:
        self.query_one("#yes" if self.focus_yes else "#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def confirm_drain(device: str, queued: int) -> Confirm:
    """Drain is not undone by a key press: ask first (Cancel has the focus)."""
    return Confirm(
        Content.assemble(("Drain ", "bold"), (device, "bold $accent"), ("?", "bold")),
        f"It finishes its current unit, gives its {queued:,} queued unit{'s' if queued != 1 else ''} "
        "back to the others and stops. It does not come back for this run.",
        "Drain", variant="warning")


def confirm_report(target: str, finished: bool) -> Confirm:
    """``r``: write the run's report to ``target``? (Write has the focus.)"""
    when = "" if finished else " The run is still going: the page shows it up to now."
    return Confirm(
        Content.assemble(("Write the run's report?", "bold")),
        Content.assemble("One HTML page (timeline, throughput, devices, failures) at\n",
                         (fmt.printable(target), "bold $accent"), f"\nSame as `lbtui report`.{when}"),
        "Write", focus_yes=True)


class QuitModal(ModalScreen[str | None]):
    """Quit while the run goes on. Its own run: stop keeping what is done (units in
    flight end at their next record, or finish, within --grace), stop now, or stay.
    Attached: also detach (the default; the run goes on). Read-only: only what it
    may do: detach (attached) or close the dashboard (``run --read-only``: the run
    goes on in its terminal, with log lines), or stay."""

    BINDINGS = [
        Binding("d,q", "choose('detach')", "Detach", show=False),
        Binding("a", "choose('after')", "Stop, keep work"),
        Binding("n", "choose('now')", "Stop now"),
        Binding("c,escape", "choose(None)", "Cancel"),
    ]

    def __init__(self, in_flight: int, *, attached: bool = False, read_only: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.in_flight = in_flight
        self.attached = attached
        self.read_only = read_only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only: the stop keys are not offered at all (nor shown in the footer)."""
        stopping = action == "choose" and bool(parameters) and parameters[0] in (STOP_AFTER, STOP_NOW)
        return not (self.read_only and stopping)

    def compose(self) -> ComposeResult:
        units = f"{self.in_flight:,} unit{'s' if self.in_flight != 1 else ''}"
        with Vertical(classes="dialog"):
            if self.read_only:
                yield from self._read_only()
                return
            if self.attached:
                yield Static(Content.assemble(("Detach from the run?", "bold")), classes="dialog-title")
                body = ("Detaching leaves the run going; `lbtui attach` comes back to it. Stopping hands "
                        "out no new work; results already written are kept and a rerun resumes the rest.")
            else:
                yield Static(Content.assemble(("Quit while ", "bold"), (units, "bold $warning"),
                                              (" are in flight?", "bold")), classes="dialog-title")
                body = ("No new work is handed out either way. Results already written are kept; "
                        "a rerun with the same --out resumes the rest.")
            yield Static(body, classes="dialog-body")
            with Vertical(classes="dialog-choices"):
                if self.attached:
                    yield Button(Content("Detach (the run goes on)  [d]"), id="detach", variant="primary")
                    after, now = ("Stop the run, keeping what is done", f"Stop the run now ({units} in flight "
                                  "are lost)")
                else:
                    after, now = "Stop, keeping what is done", "Stop now (units in flight are lost)"
                yield Button(Content(f"{after}  [a]"), id="after", variant="default" if self.attached else "primary")
                yield Button(Content(f"{now}  [n]"), id="now", variant="error")
                yield Button(Content("Cancel  [c]"), id="cancel")

    def _read_only(self) -> ComposeResult:
        if self.attached:
            title, leave = "Detach from the run?", "Detach (the run goes on)  [d]"
            body = ("Read-only: this dashboard cannot stop the run. Detaching leaves it going; "
                    "`lbtui attach` comes back to it.")
        else:
            title, leave = "Close the dashboard?", "Close the dashboard (the run goes on)  [d]"
            body = ("Read-only: this dashboard cannot stop the run. Closing it leaves the run going in this "
                    "terminal, with plain log lines; Ctrl+C there stops it, keeping what is done.")
        yield Static(Content.assemble((title, "bold")), classes="dialog-title")
        yield Static(body, classes="dialog-body")
        with Vertical(classes="dialog-choices"):
            yield Button(Content(leave), id="detach", variant="primary")
            yield Button(Content("Cancel  [c]"), id="cancel")

    def on_mount(self) -> None:
        first = "#detach" if self.attached or self.read_only else "#after"
        self.query_one(first, Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose({"detach": DETACH, "after": STOP_AFTER, "now": STOP_NOW}.get(event.button.id or ""))

    def action_choose(self, choice: str | None) -> None:
        if choice == DETACH and not (self.attached or self.read_only):
            return  # its own run, steerable: there is nothing to detach from
        if choice in (STOP_AFTER, STOP_NOW) and self.read_only:
            return  # not offered (check_action); a stray call changes nothing
        self.dismiss(choice)
