"""``lbtui report OUT [-o FILE]``: a finished (or interrupted) run as one HTML page."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EXAMPLES = """\
example:
  lbtui report lbtui-results            (writes lbtui-results/report.html)
  lbtui report runs/today -o today.html
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="write a run folder's report: one self-contained HTML page with figures",
        description="Write one self-contained HTML page (no network needed to open it) from what "
        "a run left in its --out folder: timeline, throughput, utilization, devices, failures.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="the run's --out folder")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="where to write the page [default: OUT/report.html]")
    p.set_defaults(handler=main)


def default_target(out: str | os.PathLike[str]) -> Path:
    return Path(out) / "report.html"


def write_report(out: str | os.PathLike[str], target: str | os.PathLike[str] | None = None) -> Path:
    """Build the page for run folder ``out`` and write it atomically; returns its path.
    Raises InputError (one line) for a folder that is not a run or a page that cannot be written."""
    from virnucpro_bridge.errors import InputError
    from virnucpro_bridge.runfiles.atomic import atomic_write_text

    from .page import build

    target = Path(target) if target else default_target(out)
    html = build(Path(out))
    try:
        atomic_write_text(target, html)
    except OSError as e:
        raise InputError(f"{target}: cannot write: {e.strerror or e}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(target, 0o666 & ~umask)  # a page to share: the temp file it came from was private
    return target


def main(args: argparse.Namespace) -> int:
    print(write_report(args.out, args.output))
    return 0
