"""Which run folders this lbtui reads: run.json's ``format``, checked before anything else.

lbtui 0.2 writes ``"format": 2`` (and ``"lbtui"``, its version) into run.json. A folder
without it was written before 0.2, under rules this lbtui no longer reads, and one
with a higher number by a newer lbtui: both are refused in one line (exit 2) by every
command that reads a folder (run's resume, report, attach, status, verify), never
read under the wrong rules. Bump FORMAT when a file changes so that an older reader
would misread it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import __version__
from ..errors import InputError

FORMAT = 2
FIRST_VERSION = "0.2"  # the lbtui that wrote FORMAT first


def check_format(run: Mapping[str, Any], where: str) -> None:
    """InputError (one line naming the version) unless ``run`` (run.json) is of FORMAT."""
    found = run.get("format")
    if found == FORMAT and not isinstance(found, bool):
        return
    if "format" not in run:
        raise InputError(f"{where}: a run folder written before lbtui {FIRST_VERSION}, which lbtui {__version__} "
                         f"does not resume, report or attach to (use the lbtui that wrote it, or a new --out)")
    if isinstance(found, int) and not isinstance(found, bool) and found > FORMAT:
        written = run.get("lbtui")
        by = f"lbtui {written}" if isinstance(written, str) and len(written) <= 40 else "a newer lbtui"
        raise InputError(f"{where}: a run folder written by {by} (format {found}); lbtui {__version__} reads "
                         f"format {FORMAT}: upgrade to read it")
    raise InputError(f"{where}: run.json's format is {str(found)[:40]!r}, not one lbtui writes")
