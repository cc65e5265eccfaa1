"""``lbtui`` command line: ``run``, ``attach``, ``serve``, ``status``, ``prepare``, ``models``, ``report``
and ``verify``.

Each subcommand lives in its own module with ``register(subparsers)`` and a
``main(args) -> int``; modules import heavy things (torch, textual) only
inside ``main`` so ``lbtui --help`` stays fast.

This module imports the subcommands only when ``main`` runs: a worker process
that ``multiprocessing`` spawns imports the parent's ``__main__`` module again
(this one under ``python -m lbtui.cli``, or the ``lbtui`` script that imports
it), and eight workers each importing the whole engine and asyncio for nothing
cost about a second of CPU at every run's start.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

# the subcommands' modules, imported by build_parser()
COMMANDS = (".run_cmd", ".attach_cmd", ".serve_cmd", ".status_cmd", ".prepare_cmd", ".models_cmd",
            ".report.command", ".verify_cmd")


class Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr (exit 2), pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from virnucpro_bridge import __version__

    parser = Parser(
        prog="lbtui",
        description="Run VirNucPro (or another task) over many FASTA files on several GPUs, "
        "with work stealing and a live dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"lbtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name, __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from virnucpro_bridge.errors import LbtuiError

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
