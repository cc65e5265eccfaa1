"""Snapshot values as plain text, for the dashboard, the headless log and reports.

No Textual, no Rich (a test imports this module in a fresh interpreter and
checks), so every way of showing a run says the same thing the same way.
Every formatter takes ``None`` (a reading the engine does not have) and
returns ``DASH``: no screen or log line ever shows ``None`` or ``nan``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

from virnucpro_bridge.control import snapshot as snap

DASH = "–"

# Utilization bands: green >= 80, yellow 50-80, red < 50.
UTIL_HIGH = 80.0
UTIL_MID = 50.0

# One icon per state: a row is told apart by shape as well as by colour and word.
# Narrow, non-emoji code points only, so every terminal gives them one cell.
STATE_ICONS = {
    snap.STARTING: "◌",
    snap.RUNNING: "▸",
    snap.IDLE: "·",
    snap.PAUSED: "‖",
    snap.DRAINING: "⇣",
    snap.DRAINED: "∅",
    snap.STALLED: "!",
    snap.DEAD: "✗",
    snap.DONE: "✓",
}

# Row states: the displayed state, plus "pausing" while a pause waits for the unit in flight.
ROW_STATES = ("idle", "paused", "pausing", "draining", "drained", "stalled", "dead", "done")
RESTING = ("paused", "drained", "done", "dead")  # not expected to be busy: 0 % utilization is no alarm

SPARK_BARS = " ▁▂▃▄▅▆▇█"  # index 0 (blank) marks a missing sample
VENDOR_PREFIXES = ("NVIDIA GeForce ", "NVIDIA ", "GeForce ")


# -- numbers ------------------------------------------------------------------


def missing(value: float | None) -> bool:
    """True for a reading the engine does not have: None, nan or infinite."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def reading(value: float | None) -> float | None:
    """``value`` when the engine has it; None when ``missing``."""
    return None if missing(value) else value


def count(value: int | None) -> str:
    """1234567 -> '1,234,567'."""
    return DASH if value is None else f"{value:,}"


def compact(value: float | None) -> str:
    """Large counts in four or five cells: 999, 12.3k, 4.56M, 7.1G."""
    if (v := reading(value)) is None:
        return DASH
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= limit:
            scaled = v / limit
            return f"{scaled:.1f}{suffix}" if scaled < 100 else f"{scaled:.0f}{suffix}"
    return f"{v:.0f}"


def rate(value: float | None) -> str:
    """Sequences per second: one decimal under 100, then whole numbers, then k/M."""
    if (value := reading(value)) is None:
        return DASH
    if value < 100:
        return f"{value:.1f}"
    if value < 100_000:
        return f"{value:,.0f}"
    return compact(value)


def percent(value: float | None) -> str:
    """A whole number (percent, degrees, watts): 41.6 -> '42'."""
    return DASH if (value := reading(value)) is None else f"{value:.0f}"


def with_unit(text: str, unit: str) -> str:
    """'42' + ' %' -> '42 %'; a dash stays a bare dash."""
    return text if text == DASH else text + unit


# -- time ---------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """12 -> '0:12', 754 -> '12:34', 3754 -> '1:02:34', days as '2d 03:04'."""
    if (seconds := reading(seconds)) is None:
        return DASH
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def clock(epoch: float | None) -> str:
    """Wall-clock time of day, local time: '12:03:07'."""
    return DASH if missing(epoch) else time.strftime("%H:%M:%S", time.localtime(epoch))


# -- text ---------------------------------------------------------------------

# What a terminal acts on instead of showing (C0, DEL, C1: colours, cursor moves, titles,
# the clipboard) and what silently reorders the text around it (bidirectional marks,
# overrides and isolates): in a name from outside these show as escapes, never reach a
# terminal, and a name can neither fake a second line nor run backwards.
_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
UNPRINTABLE = {cp: _ESCAPES.get(cp, f"\\x{cp:02x}") for cp in (*range(0x20), *range(0x7F, 0xA0))}
UNPRINTABLE.update({cp: f"\\u{cp:04x}" for cp in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                                   *range(0x2066, 0x206A))})


def printable(text: object) -> str:
    """A string from outside (a file, unit, record or device name, an error, a notice) as it
    shows on one line: as it is, but control and bidi characters as escapes ('a\\x1b[31m.fa').
    It is still text, never markup: views put it in Content or Text, not in a markup string."""
    return str(text).translate(UNPRINTABLE)


def fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells, keeping its end (unit names differ at the end)."""
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if width > 1 else text[:width]


def fit_start(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells, keeping its start (model names differ early)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def spark(samples: Sequence[float | None], width: int) -> str:
    """The last ``width`` samples as bar characters, scaled from 0 to their max.

    Missing samples are blank; a run of zeros is the lowest bar, so an idle
    device still shows a flat line rather than nothing.
    """
    tail = [None if missing(s) else s for s in list(samples)[-width:]]
    peak = max((s for s in tail if s is not None), default=0.0)
    bars = SPARK_BARS
    if peak <= 0:
        chars = [bars[0] if s is None else bars[1] for s in tail]
    else:
        top = len(bars) - 1
        ceil = math.ceil
        chars = [bars[0] if s is None else bars[max(1, ceil(s / peak * top))] for s in tail]
    return "".join(chars).rjust(width)


# -- devices ------------------------------------------------------------------


def short_name(name: str) -> str:
    """'NVIDIA GeForce RTX 4090' -> 'RTX 4090': the vendor says nothing in a GPU table
    (printable: the name comes from the driver, or from whoever wrote --devices)."""
    for prefix in VENDOR_PREFIXES:
        if name.startswith(prefix):
            return printable(name[len(prefix):])
    return printable(name)


def device_name(view: snap.DeviceView) -> str:
    """The model for a GPU ('H100 80GB HBM3'). CPU and simulated workers are
    named after their label ('sim2 (x1.5)'): that part is written as the
    label is everywhere else ('SIM2 (x1.5)')."""
    name = short_name(view.name)
    label = view.label
    if name[: len(label)].lower() == label.lower():
        return label + name[len(label):]
    return name


def device_labels(snapshot: snap.RunSnapshot | None) -> dict[int, str]:
    """Device index -> its label ('GPU0', 'SIM2'), as the engine names it."""
    return {} if snapshot is None else {view.index: view.label for view in snapshot.devices}


def state_of(view: snap.DeviceView) -> str:
    """The state a person should see: a stall shows even while the engine still
    says running, but never hides a death or the end."""
    if view.stalled and view.state not in (snap.DEAD, snap.DONE):
        return snap.STALLED
    return view.state


def row_state(view: snap.DeviceView) -> str:
    """The displayed state, or 'pausing' while a pause waits for the unit in flight."""
    state = state_of(view)
    if view.paused and state in (snap.RUNNING, snap.STARTING, snap.IDLE):
        return "pausing"
    return state


def state_text(view: snap.DeviceView) -> str:
    """Icon and word: '▸ running', '‖ pausing', '! stalled'."""
    state = state_of(view)
    if view.paused and state not in (snap.PAUSED, snap.DEAD, snap.DONE, snap.STALLED):
        return f"{STATE_ICONS[snap.PAUSED]} pausing"
    return f"{STATE_ICONS.get(state, '?')} {state}"


def util_level(value: float | None) -> str | None:
    """'high', 'mid' or 'low' for a utilization percent; None when missing."""
    if (value := reading(value)) is None:
        return None
    if value >= UTIL_HIGH:
        return "high"
    if value >= UTIL_MID:
        return "mid"
    return "low"


DEVICE_SOURCES = {"nvml": "NVML", "torch": "torch"}


def device_source(source: str) -> str:
    """Who listed the CUDA devices, for the header and device detail ('' for none)."""
    if not source:
        return ""
    return "found by " + " + ".join(DEVICE_SOURCES.get(s, s) for s in source.split("+"))


def current_unit(view: snap.DeviceView, width: int) -> str:
    """The unit in progress and how far it is, in ``width`` cells: '…ple_17.fa 45%'."""
    if not view.current_unit:
        return DASH
    unit = printable(view.current_unit)
    if (progress := reading(view.current_progress)) is None:
        return fit(unit, width)
    pct = f" {min(100, max(0, progress * 100)):.0f}%"
    return fit(unit, width - len(pct)) + pct


def steal_line(steal: snap.StealEvent, labels: Mapping[int, str], arrow: str = "←") -> str:
    """'GPU2 ← GPU0  sample_17.fa  (1,234 seqs)': the thief took the unit from the victim."""
    thief = labels.get(steal.thief, str(steal.thief))
    victim = labels.get(steal.victim, str(steal.victim))
    return f"{thief} {arrow} {victim}  {printable(steal.unit)}  ({steal.sequences:,} seqs)"


# -- where a device's time went -------------------------------------------------------

# Phase names (virnucpro_bridge/tasks/phases.py) as people read them; "gpu" is the model's own
# forward on a CPU or simulated device.
PHASE_LABELS = {"input": "waiting input", "cpu": "host prep", "gpu": "GPU copy+fwd", "write": "writing"}
MODEL_LABEL = "model forward"
COUNT_LABELS = {"fp32_redone_batches": ("fp32 redone", "batches")}  # name -> (label, unit)


def phase_label(phase: str, kind: str) -> str:
    if phase == "gpu" and kind != "cuda":
        return MODEL_LABEL
    return PHASE_LABELS.get(phase, phase)


def time_split(view: snap.DeviceView) -> list[tuple[str, str]]:
    """(label, '80 %   6:40') per phase of the device's time; [] before it reported any."""
    split = dict(view.time_split)
    total = sum(split.values())
    if total <= 0:
        return []
    return [(phase_label(phase, view.kind), f"{100 * seconds / total:3.0f} %   {duration(seconds)}")
            for phase, seconds in split.items()]


def energy(wh: float | None, sequences: int) -> str:
    """'12.3 Wh   4.10 Wh per M seqs' (the second part once sequences are done)."""
    if (wh := reading(wh)) is None:
        return DASH
    text = f"{wh:,.1f} Wh" if wh >= 10 else f"{wh:.2f} Wh"
    return text + (f"   {wh * 1e6 / sequences:,.2f} Wh per M seqs" if sequences else "")


def task_counts(view: snap.DeviceView) -> list[tuple[str, str]]:
    """(label, '2 batches') per count the task reported."""
    rows = []
    for name, n in view.task_counts:
        label, unit = COUNT_LABELS.get(name, (printable(name).replace("_", " "), ""))
        rows.append((label, f"{n:,} {unit}".rstrip()))
    return rows
