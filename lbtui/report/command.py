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


def register(sub: argparse._SubParsersAction) -> None:
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


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.atomic import atomic_write_text
    from virnucpro_bridge.errors import InputError

    from .page import build

    out = Path(args.out)
    target = Path(args.output) if args.output else out / "report.html"
    html = build(out)
    try:
        atomic_write_text(target, html)
    except OSError as e:
        raise InputError(f"{target}: cannot write: {e.strerror or e}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(target, 0o666 & ~umask)  # a page to share: the temp file it came from was private
    print(target)
    return 0
