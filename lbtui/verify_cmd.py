"""``lbtui verify OUT [INPUT...]``: check a run folder before publishing from it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from virnucpro_bridge.runfiles.verify import MergedCheck

EXAMPLES = """\
example:
  lbtui verify lbtui-results                 (the inputs run.json names)
  lbtui verify runs/today /data/moved/reads/  (the inputs, moved since the run)

exit status: 0 when every check passes, 1 when one fails (each failing file on its own
line), 2 when OUT is not a finished run folder or its inputs cannot be found.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="check a run folder before publishing from it: every result as written, every record covered once",
        description="Check a run folder against its manifest and its inputs: every result the manifest "
        "keeps is present and byte for byte what its worker wrote (size and sha256), every record of "
        "every input is covered by exactly one result, and each file's merged results are what its "
        "unit results merge into. Reads only; writes nothing.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="the run's --out folder")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="the run's inputs, as given to lbtui run [default: those run.json records]")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.runfiles.reader import read_run
    from virnucpro_bridge.runfiles.verify import summary_line, verify_folder

    out = Path(args.out).expanduser().resolve()
    run = read_run(out, args.out)
    merged, note = merged_check(run)
    verdict = verify_folder(out, args.inputs or None, merged, shown=args.out)
    for finding in verdict.findings:
        print(plain(finding.line()))
    for line in [*verdict.notes, *([note] if note else [])]:
        print(plain(f"note: {line}"))
    print(plain(summary_line(args.out, verdict)))
    return 0 if verdict.ok else 1


def merged_check(run: dict[str, Any]) -> tuple[MergedCheck | None, str | None]:
    """The task's own check of merged files, for a built-in task (a task named in a run
    folder is never imported: it is text from a file); else None and a note saying so."""
    from virnucpro_bridge.tasks import BUILTIN, load_task

    name = run.get("task")
    if not isinstance(name, str) or name not in BUILTIN:
        return None, f"merged files not checked: task {str(name)[:80]!r} is not built in"
    options = run.get("task_options")
    task = load_task(name)(options if isinstance(options, dict) else {})
    return task.verify_file, None


def plain(text: str) -> str:
    """Names from a run folder as visible text: control characters escaped, never acted on."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
