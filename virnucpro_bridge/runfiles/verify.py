"""Is a run folder what its manifest says, for the inputs it names? (``lbtui verify``)

    inputs, scanned again ─▶ each file's sha256 and record count
    manifest rows of the run's task and options, newest first, for that content
      ─▶ they tile every record of the file, none twice in one session
      ─▶ each kept result vouched for (``vouch.check``: in the folder, a regular file,
         size and sha256 as its worker wrote them)
      ─▶ the file's merged results what its pieces merge into (the task's ``verify_file``)

Nothing is written and nothing in the folder is trusted before it is checked. A folder
a run is still writing is refused (its lock is held): check it once the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError, LbtuiError, UsageError
from ..inputs import fasta
from ..inputs.ranges import Coverage
from ..inputs.units import Unit, discover, span_uid
from ..inputs.work import records_started, span_text
from . import vouch
from .lock import holder
from .manifest import ManifestEntry
from .reader import manifest_entries, read_run

# The task's check of one file's merged results: (path under OUT, what is wrong) pairs.
MergedCheck = Callable[[str, Sequence[tuple[Unit, Path]], Path], list[tuple[str, str]]]
GAPS_NAMED = 3
WHY = {  # vouch's reasons, for someone about to publish
    vouch.CHANGED: "changed since it was written (its size or sha256 is not the manifest's)",
    vouch.UNCHECKED: "no checksum recorded; run the same command again to redo it",
    vouch.NOT_REGULAR: "not a regular file (a link, a folder ...), not what its worker wrote",
    vouch.OUTSIDE: "the manifest points outside the run folder",
    vouch.MISSING: "missing",
}


@dataclass(frozen=True)
class Finding:
    path: str  # an input's name, or a file under the run folder
    why: str

    def line(self) -> str:
        return f"FAIL {self.path}: {self.why}"


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0  # inputs with records
    results: int = 0  # unit results vouched for
    sequences: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_folder(out: Path, inputs: Sequence[str] | None = None, merged: MergedCheck | None = None,
                  shown: str | None = None) -> Verdict:
    """Check ``out`` against its manifest and ``inputs`` (default: the run's own, from
    run.json). LbtuiError (exit 2) when there is no run to check."""
    shown = shown or str(out)
    run = read_run(out, shown)
    if (who := holder(out)) is not None:
        raise UsageError(f"{shown}: a run is still writing it ({who.describe()}); verify it once the run ends")
    files = _inputs(run, inputs, shown)
    task, fingerprint = run.get("task"), run.get("fingerprint", "")
    problems: list[str] = []
    rows: dict[str, list[ManifestEntry]] = {}
    for entry in reversed(manifest_entries(out, problems)):
        rows.setdefault(entry.file, []).append(entry)
    verdict = Verdict(notes=problems)
    for path, rel in files:
        _verify_file(out, path, rel, rows.pop(rel, []), (task, fingerprint), merged, verdict)
    if rows:
        verdict.notes.append(f"the manifest also has results for {len(rows):,} file(s) not among the inputs "
                             f"(e.g. {next(iter(rows))!r}); not checked")
    return verdict


def _inputs(run: dict[str, Any], given: Sequence[str] | None, shown: str) -> list[tuple[str, str]]:
    """(path, rel) of the inputs: as given, or as the run recorded them."""
    paths = list(given or [])
    if not paths:
        recorded = run.get("input_paths")
        if not isinstance(recorded, list) or not all(isinstance(p, str) for p in recorded) or not recorded:
            raise InputError(f"{shown}: run.json does not say which inputs the run read; "
                             f"give them: lbtui verify {shown} INPUT...")
        paths = recorded
    try:
        return discover(paths)
    except InputError as exc:
        raise InputError(f"{exc}; give the run's inputs after the folder: lbtui verify {shown} INPUT...") from None


def _verify_file(out: Path, path: str, rel: str, rows: list[ManifestEntry], key: tuple[object, str],
                 merged: MergedCheck | None, verdict: Verdict) -> None:
    try:
        scan = fasta.scan(path, 1 << 62)
    except LbtuiError as exc:
        verdict.findings.append(Finding(rel, str(exc)))
        return
    if not scan.sequences:
        return  # an empty input: the run skipped it
    verdict.files += 1
    first = scan.shards[0]
    whole = Unit(rel, path, rel, 0, 1, 0, scan.sequences, scan.residues, scan.sha256,
                 scan.index.point(first.start, first.offset) if scan.index is not None else None)
    current = [e for e in rows if e.covers(whole) and (e.task, e.fingerprint) == key]
    if not current:
        why = ("changed since the run: its sha256 is not the one its results were made from"
               if any(e.file == rel for e in rows) else "no results in the manifest")
        verdict.findings.append(Finding(rel, why))
        return
    cov: Coverage[ManifestEntry] = Coverage(whole.count)
    for e in current:  # newest first, as a resume keeps them
        if not cov.overlaps(e.begin, e.stop):
            cov.add(e.begin, e.stop, e)
    before = len(verdict.findings)
    _twice(rel, current, verdict)
    pieces = []
    for begin, stop, e in cov.pieces():
        if (refusal := vouch.check(out, e)) is not None:
            verdict.findings.append(Finding(e.output, WHY.get(refusal, refusal)))
            continue
        verdict.results += 1
        verdict.sequences += records_started(begin, stop)
        seek = scan.index.seek_point(e.start) if scan.index is not None else whole.seek
        pieces.append((replace(whole, uid=span_uid(rel, begin, stop), shard=e.shard, start=e.start, count=e.count,
                               part=e.part, end_part=e.end_part, seek=seek), out / e.output))
    if not cov.complete:
        gaps = [span_text(b, s) for b, s in cov.gaps()]
        more = f" and {len(gaps) - GAPS_NAMED} more" if len(gaps) > GAPS_NAMED else ""
        verdict.findings.append(Finding(rel, f"records {', '.join(gaps[:GAPS_NAMED])}{more} (of "
                                             f"{whole.count:,}) have no result"))
    if merged is not None and cov.complete and len(verdict.findings) == before:
        verdict.findings += [Finding(where, why) for where, why in merged(rel, pieces, out)]


def _twice(rel: str, rows: list[ManifestEntry], verdict: Verdict) -> None:
    """Two rows of one session that overlap: records done twice, which a run never does."""
    by_session: dict[str, list[ManifestEntry]] = {}
    for e in rows:
        by_session.setdefault(e.run_id, []).append(e)
    for session in by_session.values():
        session.sort(key=lambda e: e.begin)
        reach: tuple[int, int] = (-1, 0)
        for e in session:
            if e.begin < reach:
                verdict.findings.append(Finding(rel, f"records {span_text(e.begin, e.stop)} done twice in one "
                                                     f"run ({e.run_id or 'no run id'})"))
                return
            reach = max(reach, e.stop)


def summary_line(out: str, verdict: Verdict) -> str:
    if verdict.ok:
        return (f"{out}: ok: {verdict.files:,} input file(s), {verdict.results:,} unit result(s), "
                f"{verdict.sequences:,} sequences; every record covered once, every result as written")
    files = len({f.path for f in verdict.findings})
    return f"{out}: {len(verdict.findings):,} problem(s) in {files:,} file(s); do not publish from it as it is"
