"""What every column, colour and key means (``?``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .. import format as fmt
from .event_log import MAX_LINES


def rows(pairs: list[tuple[str, str]], width: int = 14) -> str:
    """'  key           what it does' lines, the keys padded to one width."""
    return "\n".join(f"  [b]{key}[/]{' ' * (width - len(key))}{text}" for key, text in pairs)


S = fmt.STATE_ICONS
KEY_ROWS = [
    ("↑ ↓  j k", "select a device (or click its row); Home/End: first/last"),
    ("Enter", "device detail: history over the whole run, units, errors"),
    ("p", "pause the selected device after its current unit / resume it"),
    ("d", "drain it: finish the current unit, give its queue away, stop (asks first)"),
    ("s", "work stealing on / off for the whole run"),
    ("+  -", "refresh slower / faster (0.5 to 10 s)"),
    ("r", "write the run's report (one HTML page, as `lbtui report`); asks first, says where"),
    ("Tab", "move between the table and the log (scroll the log with ↑ ↓)"),
    ("q  Ctrl+C", "quit; with units in flight, asks: stop keeping what is done, stop now, or cancel"),
]
QUIT_ATTACHED = ("q  Ctrl+C", "detach (the run goes on) or stop the run: asks which")
QUIT_READ_ONLY = ("q  Ctrl+C", "close the dashboard (the run goes on in its terminal, with log lines); asks first")
QUIT_ATTACHED_READ_ONLY = ("q  Ctrl+C", "detach (the run goes on); asks first")
READ_ONLY = ("[$warning]read-only[/]: p, d, s, r and stopping the run are disabled "
             "(started with --read-only); watching and the detail screen work")
KEYS = rows(KEY_ROWS)
COLUMNS = rows([
    ("#", "device index (as in --gpus and the manifest)"),
    ("State", f"{S['running']} running  {S['idle']} idle  {S['paused']} paused / pausing  "
              f"{S['draining']} draining  {S['drained']} drained"),
    ("", f"{S['stalled']} stalled  {S['dead']} dead  {S['done']} done  {S['starting']} starting"),
    ("Util%", "[$success]≥ 80[/]  [$warning]50–80[/]  [$error]< 50[/]  (NVML on GPUs; busy fraction otherwise;"),
    ("", "not coloured on paused, drained, done or dead devices)"),
    ("Mem%", "device memory (GPUs) or worker memory / host RAM"),
    ("seq/s", "sequences per second over the last 60 s or 10 units"),
    ("Trend", "seq/s over the last refreshes, scaled to the device's own peak"),
    ("Queue", "units waiting for this device"),
    ("Done", "units this device finished"),
    ("In/Out", "units it stole from others / others stole from it"),
    ("Current unit", "the unit in progress and how far it is, when the task says"),
    ("°C  W", "temperature and power (GPUs; wide terminals only)"),
    (fmt.DASH, "no reading. Narrow terminals hide the least important columns."),
])

HELP = f"""\
[b $accent]lbtui dashboard[/]   [$text-muted]Escape, q or ? closes this help[/]
{{mode}}
[b]Keys[/]
{{keys}}

[b]Columns[/]
{COLUMNS}

[b]Rows[/]
  [dim]dim[/]: paused, drained, done   [$warning]yellow[/]: pausing, draining
  [$error]red[/]: stalled (no progress while holding work), dead (worker gone)

[b]Log[/]
  steals ([b]GPU2 ← GPU0[/]: GPU2 took the unit from GPU0's queue), stalls, deaths, retries,
  failures and your commands; the last {MAX_LINES:,} lines. It follows new lines unless you
  scroll up.
"""


def help_text(*, attached: bool = False, read_only: bool = False) -> str:
    """The help, with the quit key and a mode line as this dashboard has them."""
    quit_row = (QUIT_ATTACHED_READ_ONLY if attached else QUIT_READ_ONLY) if read_only else QUIT_ATTACHED
    keys = [quit_row if (attached or read_only) and k == "q  Ctrl+C" else (k, t) for k, t in KEY_ROWS]
    mode = []
    if attached:
        mode.append("attached to a run in another process: leaving this dashboard does not stop it")
    if read_only:
        mode.append(READ_ONLY)
    lines = "".join(f"\n  {line}" for line in mode)
    return HELP.replace("{mode}", lines + "\n" if mode else "").replace("{keys}", rows(keys))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, *, attached: bool = False, read_only: bool = False) -> None:
        super().__init__()
        self.attached = attached
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text(attached=self.attached, read_only=self.read_only), id="help-text")
