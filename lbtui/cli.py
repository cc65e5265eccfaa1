"""``lbtui`` command line: ``run``, ``attach``, ``serve``, ``prepare``, ``models`` and ``report``.

Each subcommand lives in its own module with ``register(subparsers)`` and a
``main(args) -> int``; modules import heavy things (torch, textual) only
inside ``main`` so ``lbtui --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from virnucpro_bridge import __version__
from virnucpro_bridge.errors import LbtuiError

from . import attach_cmd, models_cmd, prepare_cmd, run_cmd, serve_cmd
from .report import command as report_cmd

COMMANDS = (run_cmd, attach_cmd, serve_cmd, prepare_cmd, models_cmd, report_cmd)


class Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr (exit 2), pointing at --help."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="lbtui",
        description="Run VirNucPro (or another task) over many FASTA files on several GPUs, "
        "with work stealing and a live dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"lbtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except LbtuiError as exc:
        print(f"lbtui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lbtui: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
