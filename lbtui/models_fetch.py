"""``lbtui models fetch DIR``: the real models, downloaded and checked, then ``models check``.

The engine (``virnucpro_bridge.tasks.virnucpro.fetch``) does the work and reports
progress to a listener; this module is the command line and the progress bars:
one bar per file on a terminal, a line every quarter of a file in a log.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .argtypes import non_negative_int, positive_float

if TYPE_CHECKING:
    from virnucpro_bridge.tasks.virnucpro.fetch.sources import ModelFile

BAR_WIDTH = 24
REDRAW_S = 0.2  # a terminal bar is redrawn at most this often
LOG_STEPS = 4  # without a terminal: a line at each quarter of a file


def add_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = actions.add_parser(
        "fetch", help="download ESM-2 3B, DNABERT-S and upstream's classifier into DIR, then check them",
        description="Download the three models VirNucPro needs into DIR, in the layout --models DIR reads: "
        "ESM-2 3B from fair-esm's server, DNABERT-S from Hugging Face, upstream VirNucPro's classifier "
        "for the chunk length from its GitHub repository. Each file is checked against the size and "
        "checksum its source publishes, its sha256 kept in DIR/models.json, and the folder checked "
        "with 'lbtui models check' at the end. An interrupted fetch resumes when run again. The only "
        "lbtui command that uses the network.")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--chunk-length", type=int, choices=(300, 500), default=500,
                   help="which classifier: upstream's 300_model.pth or 500_model.pth; it must match "
                   "lbtui run --chunk-length [default: 500]")
    p.add_argument("--mirror", metavar="URL", default=None,
                   help="fetch every file from URL + the file's path on its own host (a local mirror); "
                   "also $LBTUI_MODELS_MIRROR; $HF_ENDPOINT for DNABERT-S alone")
    p.add_argument("--from-cache", action="store_true",
                   help="copy the files from the torch hub and Hugging Face caches (upstream's own "
                   "downloads) instead of downloading")
    p.add_argument("--dnabert-revision", metavar="REV", default=None,
                   help="DNABERT-S at this commit or branch [default: the one DIR/models.json records, "
                   "else main, recorded as the commit it resolves to]")
    p.add_argument("--urls", action="store_true",
                   help="print a curl command per file (URL and place under DIR) and exit: to fetch by hand")
    p.add_argument("--timeout", type=positive_float, default=20.0, metavar="S",
                   help="seconds without an answer before a host counts as unreachable [default: 20]")
    p.add_argument("--retries", type=non_negative_int, default=3, metavar="N",
                   help="resume a cut download this many times before giving up [default: 3]")


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.tasks.virnucpro.fetch.fetcher import FetchOptions, fetch_all, plan
    from virnucpro_bridge.tasks.virnucpro.fetch.sources import pins_overridden

    opts = FetchOptions(Path(args.dir).expanduser(), args.chunk_length, args.mirror, args.from_cache,
                        args.dnabert_revision, args.timeout, args.retries)
    if args.urls:
        for file, url in plan(opts):
            target = shlex.quote(str(opts.root / file.dest))
            print(f"curl -fL -C - --create-dirs -o {target} {shlex.quote(url)}   # {file.model}, about {file.about}")
        return 0
    pins = pins_overridden()
    if pins:
        print(f"lbtui: notice: checksums from $LBTUI_MODELS_PINS ({pins}) replace lbtui's own", file=sys.stderr)
    where = "the torch hub and Hugging Face caches" if args.from_cache else (args.mirror or "their publishers")
    print(f"fetching ESM-2 3B, DNABERT-S and the {args.chunk_length} bp classifier into {opts.root} "
          f"from {where}", file=sys.stderr)
    fetched = fetch_all(opts, Bars(sys.stderr))
    print(f"{len(fetched)} file(s) fetched; sha256 of each in {opts.root / 'models.json'}")
    print(f"checking: lbtui models check {opts.root} --chunk-length {args.chunk_length}")
    from .models_check import check_folder

    return check_folder(str(opts.root), args.chunk_length)


def _bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


class Bars:
    """The fetch's listener: a bar per file on a terminal, quarter lines otherwise."""

    def __init__(self, out: TextIO, tty: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.clock = out, clock
        self.tty = out.isatty() if tty is None else tty
        self.name = ""
        self.started, self.drawn = 0.0, float("-inf")
        self.logged = -1

    def begin(self, file: ModelFile, source: str) -> None:
        self.name, self.started, self.drawn, self.logged = file.dest, self.clock(), float("-inf"), -1
        if not self.tty:
            print(f"{file.dest}: from {source}", file=self.out, flush=True)

    def progress(self, phase: str, done: int, total: int | None) -> None:
        now = self.clock()
        if self.tty:
            if now - self.drawn >= REDRAW_S or (total is not None and done >= total):
                self.drawn = now
                print("\r" + self._line(phase, done, total, now), end="", file=self.out, flush=True)
            return
        if phase != "get" or not total:
            return
        step = done * LOG_STEPS // total
        if step > self.logged:
            self.logged = step
            print(f"{self.name}: {100 * step // LOG_STEPS}% ({_bytes(done)} of {_bytes(total)})",
                  file=self.out, flush=True)

    def _line(self, phase: str, done: int, total: int | None, now: float) -> str:
        verb = "checking" if phase == "check" else "fetching"
        if not total:
            return f"{self.name:<44} {verb} {_bytes(done)}"
        filled = BAR_WIDTH * done // total
        rate = done / max(now - self.started, 1e-6) if phase == "get" else 0.0
        speed = f"  {_bytes(rate)}/s" if rate else ""
        return (f"{self.name:<44} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {100 * done // total:3d}% "
                f"{_bytes(done)} of {_bytes(total)}{speed} ({verb})")

    def end(self, file: ModelFile, entry: dict[str, Any] | None) -> None:
        if self.tty and entry is not None:
            print(file=self.out)
        if entry is None:
            print(f"{file.dest}: already fetched (models.json lists it)", file=self.out, flush=True)
        else:
            print(f"{file.dest}: ok, {entry['size']:,} bytes, sha256 {entry['sha256'][:16]}..., "
                  f"checked: {entry['checked']}", file=self.out, flush=True)
