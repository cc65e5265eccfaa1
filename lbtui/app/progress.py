"""The run-level widgets above the table: header line, progress bar, notices
and the finished banner. Each takes a whole snapshot and shows its part, as
``Content`` built from plain parts: a run's name, task, error or folder is
text, never markup (``fmt.printable``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import ProgressBar, Static

from virnucpro_bridge.control.snapshot import RunSnapshot

from .. import format as fmt

SEP = ("  ·  ", "$text-muted")


def header_left(title: str, snapshot: RunSnapshot | None) -> Content:
    if snapshot is None:
        return Content.assemble((title, "bold $accent"), SEP, ("waiting for the first snapshot…", "$text-muted"))
    devices = len(snapshot.devices)
    found = fmt.device_source(snapshot.device_source)
    return Content.assemble(
        (title, "bold $accent"), SEP,
        (fmt.printable(snapshot.name or fmt.DASH), "bold"), SEP,
        ("task ", "$text-muted"), fmt.printable(snapshot.task or fmt.DASH), SEP,
        (f"{devices} device{'s' if devices != 1 else ''}", ""),
        (f" ({found})" if found else "", "$text-muted"),
    )


def header_right(snapshot: RunSnapshot | None, refresh: float, stale_s: float | None) -> Content:
    parts: list[str | tuple[str, str]] = []
    if snapshot is not None:
        if snapshot.finished and snapshot.error:
            state = ("aborted", "bold $error")
        elif snapshot.finished:
            state = ("finished", "bold $success" if not snapshot.units_failed else "bold $warning")
        elif snapshot.stopping:
            state = ("stopping", "bold $warning")
        else:
            state = None
        if state:
            parts += [state, SEP]
        steal = ("stealing on", "$success") if snapshot.stealing else ("stealing off", "bold $warning")
        parts += [
            ("elapsed ", "$text-muted"), fmt.duration(snapshot.elapsed), "  ",
            ("ETA ", "$text-muted"), fmt.duration(None if snapshot.finished else snapshot.eta), SEP,
            steal, SEP,
        ]
    if stale_s is not None:
        parts += [(f"no update for {fmt.duration(stale_s)}", "bold $error"), SEP]
    parts.append((f"⟳ {refresh:g}s", "$text-muted"))
    return Content.assemble(*parts)


def progress_label(snapshot: RunSnapshot) -> Content:
    parts: list[str | tuple[str, str]] = [
        ("units ", "$text-muted"), f"{units_finished(snapshot):,}/{snapshot.units_total:,}",
    ]
    if snapshot.units_skipped:
        parts.append((f" ({snapshot.units_skipped:,} resumed)", "$text-muted"))
    parts += [
        SEP, ("seqs ", "$text-muted"),
        f"{fmt.compact(snapshot.sequences_done)}/{fmt.compact(snapshot.sequences_total)}",
        SEP, fmt.rate(snapshot.throughput), (" seq/s", "$text-muted"),
        SEP, ("in flight ", "$text-muted"), f"{snapshot.units_in_flight:,}",
    ]
    if snapshot.units_failed:
        parts += [SEP, (f"{snapshot.units_failed:,} failed", "bold $error")]
    return Content.assemble(*parts)


class TextLine(Static):
    """A Static that updates only when its text or styles change, and lays out
    again only when its length does (most refreshes change a digit or two)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: Content | None = None

    def show_content(self, content: Content) -> None:
        shown = self.shown
        if shown is not None and shown.plain == content.plain and shown.spans == content.spans:
            return
        self.update(content, layout=shown is None or len(shown.plain) != len(content.plain))
        self.shown = content


def units_finished(snapshot: RunSnapshot) -> int:
    """Units that need no more work: done now, done in an earlier run, or failed."""
    return min(snapshot.units_total, snapshot.units_done + snapshot.units_skipped + snapshot.units_failed)


class RunHeader(Horizontal):
    """Run name, task and devices on the left; elapsed, ETA and switches on the right."""

    def compose(self) -> ComposeResult:
        yield TextLine(id="header-left")
        yield TextLine(id="header-right")

    def show(self, title: str, snapshot: RunSnapshot | None, refresh: float, stale_s: float | None) -> None:
        try:
            left = self.query_one("#header-left", TextLine)
            right = self.query_one("#header-right", TextLine)
        except NoMatches:  # the refresh timer ticked while the app shuts down (children go first)
            return
        left.show_content(header_left(title, snapshot))
        right.show_content(header_right(snapshot, refresh, stale_s))


class RunProgress(Horizontal):
    """Overall progress: a bar over units, then sequences, seq/s and failures."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1, show_eta=False, id="progress-bar")
        yield TextLine(id="progress-label")

    def show(self, snapshot: RunSnapshot) -> None:
        self.query_one(ProgressBar).update(total=max(1, snapshot.units_total), progress=units_finished(snapshot))
        self.query_one("#progress-label", TextLine).show_content(progress_label(snapshot))
        self.set_class(snapshot.units_failed > 0, "-failures")


def summary_content(snapshot: RunSnapshot) -> Content:
    """The finished banner: makespan, units, steals, failures, where results are."""
    summary = snapshot.summary or {}
    failed = summary.get("files_failed", snapshot.units_failed)
    done = summary.get("files_done", snapshot.units_done + snapshot.units_skipped)
    total = summary.get("files_total", snapshot.units_total)
    makespan = summary.get("makespan_s", snapshot.elapsed)
    steals = summary.get("steals", snapshot.steals_total)
    splits = summary.get("splits", snapshot.splits_total)
    sequences = summary.get("sequences", snapshot.sequences_done)
    code = snapshot.exit_code
    if snapshot.error:
        head = ("✗ Run aborted: " + fmt.printable(snapshot.error), "bold $error")
    elif code == 130:
        head = ("! Run interrupted", "bold $warning")
    elif failed:
        head = (f"! Run finished with {failed:,} failed", "bold $error")
    else:
        head = ("✓ Run finished", "bold $success")
    return Content.assemble(
        head, SEP,
        ("makespan ", "$text-muted"), fmt.duration(makespan), SEP,
        ("units ", "$text-muted"), f"{done:,}/{total:,}", SEP,
        ("sequences ", "$text-muted"), fmt.count(sequences), SEP,
        ("steals ", "$text-muted"), f"{steals:,}", SEP,
        *((("splits ", "$text-muted"), f"{splits:,}", SEP) if splits else ()),
        ("exit ", "$text-muted"), fmt.DASH if code is None else str(code),
        "\n",
        ("results in ", "$text-muted"), (fmt.printable(snapshot.out_dir or fmt.DASH), "bold"),
        ("   r: report   q: quit", "$text-muted"),
    )


class FinishedBanner(TextLine):
    """Hidden until the run finishes; then the summary, until the user quits."""

    def show(self, snapshot: RunSnapshot) -> None:
        if self.display != snapshot.finished:
            self.display = snapshot.finished
        if snapshot.finished:
            self.show_content(summary_content(snapshot))
            self.set_class(bool(snapshot.error or snapshot.units_failed
                                or (snapshot.summary or {}).get("files_failed")), "-failed")
