"""What every column, colour and key means (``?``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from . import format as fmt
from .event_log import MAX_LINES

HELP = f"""\
[b $accent]lbtui dashboard[/]   [$text-muted]Escape, q or ? closes this help[/]

[b]Keys[/]
  [b]↑ ↓  j k[/]   select a device (or click its row)
  [b]Enter[/]      device detail: history over the whole run, units, errors
  [b]p[/]          pause the selected device after its current unit / resume it
  [b]d[/]          drain it: finish the current unit, give its queue away, stop (asks first)
  [b]s[/]          work stealing on / off for the whole run
  [b]+  -[/]       refresh slower / faster (0.5 to 10 s)
  [b]Tab[/]        move between the table and the log (scroll the log with ↑ ↓)
  [b]q  Ctrl+C[/]  quit; with units in flight, asks: stop after them, stop now, or cancel

[b]Columns[/]
  [b]#[/]          device index (as in --gpus and the manifest)
  [b]State[/]      {fmt.STATE_ICONS['running']} running  {fmt.STATE_ICONS['idle']} idle  {fmt.STATE_ICONS['paused']} paused / pausing  \
{fmt.STATE_ICONS['draining']} draining  {fmt.STATE_ICONS['drained']} drained  {fmt.STATE_ICONS['stalled']} stalled  \
{fmt.STATE_ICONS['dead']} dead  {fmt.STATE_ICONS['done']} done  {fmt.STATE_ICONS['starting']} starting
  [b]Util%[/]      [$success]≥ 80[/]  [$warning]50–80[/]  [$error]< 50[/]  (NVML on GPUs; busy fraction on CPU and simulated devices)
  [b]Mem%[/]       device memory (GPUs) or worker memory / host RAM
  [b]seq/s[/]      sequences per second over the last 60 s or 10 units
  [b]Trend[/]      seq/s over the last refreshes, scaled to the device's own peak
  [b]Queue[/]      units waiting for this device
  [b]Done[/]       units this device finished
  [b]In/Out[/]     units it stole from others / others stole from it
  [b]Current unit[/] the unit in progress and how far it is, when the task says
  [b]°C  W[/]      temperature and power (GPUs; wide terminals only)
  {fmt.DASH}          no reading. Narrow terminals hide the least important columns.

[b]Rows[/]
  [dim]dim[/]: paused, drained, done   [$warning]yellow[/]: pausing, draining   \
[$error]red[/]: stalled (no progress while holding work), dead (worker gone)

[b]Log[/]  steals ([b]GPU2 ← GPU0[/]: GPU2 took the unit from GPU0's queue), stalls, deaths,
retries, failures and your commands; the last {MAX_LINES:,} lines. It follows new lines
unless you scroll up.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(HELP, id="help-text")
