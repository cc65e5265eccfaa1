"""The report's "Where the time went" table: per device, its workers' time split into
waiting for input, host preparation, the GPU (or the model on a CPU) and writing, and
on CUDA its energy, from summary.json (``time_split_s``, ``energy_wh`` ...).

Is the GPU starved? A large "waiting input" share while units were queued says the
host could not prepare batches fast enough; "writing" says the output disk is slow.
"""

from __future__ import annotations

from dataclasses import dataclass

from virnucpro_bridge.runfiles.reader import RunFolder

from .svg import esc

PHASES = (("input", "waiting for input"), ("cpu", "host prep"), ("gpu", "GPU (copy + forward)"),
          ("write", "writing"))


@dataclass(frozen=True)
class WorkRow:
    label: str
    kind: str
    shares: dict[str, float]  # percent per phase
    wall_s: float
    setup_s: float | None
    energy_wh: float | None
    wh_per_million: float | None
    redone: int | None  # batches redone in float32


def work_rows(rf: RunFolder) -> list[WorkRow]:
    """One row per device that reported its time split (none for a run before it existed)."""
    by_index = {d.get("index"): d for d in (rf.summary or {}).get("devices") or [] if isinstance(d, dict)}
    rows = []
    for dev in rf.devices:
        s = by_index.get(dev.index, {})
        split = s.get("time_split_s")
        if not isinstance(split, dict):
            continue
        seconds = {k: float(v) for k, v in split.items() if isinstance(v, (int, float))}
        total = sum(seconds.values())
        if total <= 0:
            continue
        counts = given if isinstance(given := s.get("task_counts"), dict) else {}
        rows.append(WorkRow(dev.label, dev.kind or str(s.get("kind", "")),
                            {k: 100.0 * v / total for k, v in seconds.items()}, total,
                            _number(s.get("setup_s")), _number(s.get("energy_wh")),
                            _number(s.get("wh_per_million_seqs")), counts.get("fp32_redone_batches")))
    return rows


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def work_table(rf: RunFolder) -> str:
    """The section's HTML; empty when no device reported where its time went."""
    rows = work_rows(rf)
    if not rows:
        return ""
    head = ("<tr><th>device</th>" + "".join(f"<th class=n>{esc(name)}</th>" for _, name in PHASES)
            + "<th class=n>worker time</th><th class=n>setup</th><th class=n>energy</th>"
              "<th class=n>Wh per M seqs</th><th class=n>redone in fp32</th></tr>")
    body = []
    for r in rows:
        def n(v: object, fmt: str) -> str:
            return f"<td class=n>{esc(fmt.format(v)) if v is not None else '—'}</td>"
        shares = "".join(n(r.shares.get(k), "{:.1f} %") for k, _ in PHASES)
        body.append(f"<tr><td>{esc(r.label)}</td>{shares}{n(r.wall_s, '{:,.1f} s')}{n(r.setup_s, '{:,.1f} s')}"
                    f"{n(r.energy_wh, '{:,.2f} Wh')}{n(r.wh_per_million, '{:,.2f}')}{n(r.redone, '{:,}')}</tr>")
    note = ('<p class="muted">Each worker\'s time from the end of its setup (model loading, in "setup") to '
            'its end, summed over a device\'s workers. "GPU" is the copy to the device, the forward and the '
            'copy back (on a CPU device, the model\'s forward). A large "waiting for input" share while units '
            "were queued means the host could not prepare batches fast enough: the GPU was starved. "
            "Energy: NVML's energy counter (else power readings integrated) while the workers ran; the whole "
            "GPU's, other processes included.</p>")
    return f"<h2 id=time>Where the time went</h2><table>{head}{''.join(body)}</table>{note}"
