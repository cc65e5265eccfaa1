"""Docstrings to review: module docstrings over a length, and docstrings or comments with history words.

A module docstring says what the module holds, its data flow and its rules in about
15 lines; how the code got there belongs in git log, measurements in docs/decisions.md.
This lists candidates for a person to read (a hit is not always wrong: "replaced" can
describe what the code does). Prints, exits 0.

Usage: python scripts/docstrings.py [--lines N] [PATH ...]   (default: virnucpro_bridge lbtui, 15)
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import tokenize
from pathlib import Path

HISTORY = re.compile(
    r"\b(used to|no longer|previously|formerly|before issue|issue \d+|was (?:once|previously)|"
    r"originally|legacy|back-?compat)\b|\bNow[:,]|\b(?:is|are|was|were|it|this) now\b|"
    r"\bthan before\b|\bmeasured on\b|\d+(?:\.\d+)?x (?:faster|slower)|\bbenchmark",
    re.I,
)
DOC_OWNERS = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def module_lines(tree: ast.Module) -> int:
    doc = ast.get_docstring(tree, clean=False)
    return len(doc.strip("\n").splitlines()) if doc else 0


def texts(path: Path, tree: ast.Module) -> list[tuple[int, str]]:
    """(line, text) of every docstring line and comment in the file."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, DOC_OWNERS) and (doc := ast.get_docstring(node, clean=False)):
            first = node.body[0].lineno
            found += [(first + i, line) for i, line in enumerate(doc.splitlines())]
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type == tokenize.COMMENT:
            found.append((tok.start[0], tok.string))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=15, help="longest module docstring not listed")
    parser.add_argument("paths", nargs="*", default=["virnucpro_bridge", "lbtui"])
    args = parser.parse_args()
    files = sorted(f for p in map(Path, args.paths) for f in ([p] if p.is_file() else p.rglob("*.py")))
    long, history = [], []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        long.append((module_lines(tree), str(path)))
        history += [f"{path}:{n}: {t.strip()}" for n, t in texts(path, tree) if HISTORY.search(t)]
    over = sorted((item for item in long if item[0] > args.lines), reverse=True)
    print(f"module docstrings over {args.lines} lines: {len(over)}")
    print("\n".join(f"{n:4d}  {p}" for n, p in over))
    print(f"docstring or comment lines with history words: {len(history)}")
    print("\n".join(history))


if __name__ == "__main__":
    main()
