"""What an older run.json only holds in its argv: the inputs and the --metrics-log path.

The argv is parsed with ``lbtui run``'s own parser, so the report never keeps
a second list of run options that could drift from the real one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


class _Quiet(argparse.ArgumentParser):
    """Parse errors raise instead of printing and exiting: an odd argv just yields nothing."""

    def error(self, message: str):  # type: ignore[override]
        raise ValueError(message)


def parsed_argv(run: dict[str, Any]) -> argparse.Namespace | None:
    argv = run.get("argv")
    if not isinstance(argv, list) or "run" not in argv:
        return None
    from lbtui import run_cmd

    parser = _Quiet(add_help=False)
    run_cmd.register(parser.add_subparsers(dest="command", parser_class=_Quiet))
    try:
        args, _ = parser.parse_known_args([str(a) for a in argv[argv.index("run"):]])
    except (ValueError, SystemExit):
        return None
    return args


def run_inputs(run: dict[str, Any]) -> list[str] | None:
    """Input paths as given: run.json's ``inputs``, else from its argv."""
    if isinstance(run.get("inputs"), list):
        return [str(p) for p in run["inputs"]]
    args = parsed_argv(run)
    return list(args.inputs) if args is not None and getattr(args, "inputs", None) else None


def metrics_log_candidates(out: Path, run: dict[str, Any]) -> list[Path]:
    """Where the run's --metrics-log FILE may be now; relative paths were relative to
    the run's working folder, which we infer from how --out was given."""
    args = parsed_argv(run)
    given = getattr(args, "metrics_log", None) if args is not None else None
    if not given:
        return []
    path = Path(given)
    if path.is_absolute():
        return [path]
    found = []
    out_given = Path(str(run.get("out") or getattr(args, "out", "") or ""))
    out_abs = Path(os.path.abspath(out))
    if out_given.parts and not out_given.is_absolute() and out_abs.parts[-len(out_given.parts):] == out_given.parts:
        found.append(Path(*out_abs.parts[: -len(out_given.parts)]) / path)
    found += [Path(os.path.abspath(path)), out / path.name]
    return found
