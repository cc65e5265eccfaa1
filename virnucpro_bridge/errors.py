"""Exceptions that end a run with one clear line on stderr (never a traceback)."""

from __future__ import annotations

import errno
import os


class LbtuiError(Exception):
    """Base for errors the CLI reports as a single line."""

    exit_code = 2


class UsageError(LbtuiError):
    """A bad option value (``--gpus garbage``, unknown task, ...): exit 2."""


class InputError(LbtuiError):
    """A bad input path or file (not FASTA, unreadable, none found): exit 2."""


class TaskError(LbtuiError):
    """A task could not be set up (missing model, wrong architecture): exit 2."""


class UnitError(Exception):
    """A single unit failed in a way that retrying will not fix.

    Raised by tasks from ``run_unit``; the unit is marked failed at once
    (no retries) and the rest of the run goes on.
    """


class OutputError(LbtuiError):
    """``--out`` (or a file the run writes) cannot be written: disk full, read-only,
    quota, I/O error, permission. The run stops at once; exit 3 ("aborted")."""

    exit_code = 3


# errno -> (what happened, what the user should do). These are faults of the
# place we write to, not of a unit: retrying the unit elsewhere cannot help.
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: ("no space left on device", "free space"),
    errno.EDQUOT: ("disk quota exceeded", "free space or raise the quota"),
    errno.EROFS: ("read-only file system", "make the output folder writable"),
    errno.EACCES: ("permission denied", "make the output folder writable"),
    errno.EPERM: ("operation not permitted", "make the output folder writable"),
    errno.EIO: ("I/O error", "check the disk"),
}
# These say nothing about a specific path: a full or read-only disk is one
# wherever the write was. The others count only for paths under --out.
_ANYWHERE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def environment_error(exc: BaseException, out_dir: str | None = None) -> str | None:
    """The human message for an OSError that is the output disk's fault, else None.

    e.g. ``no space left on device writing /data/run1/units/x.json; free space
    and run the same command again to resume``.
    """
    if not isinstance(exc, OSError) or exc.errno not in _ENVIRONMENT_ERRNOS:
        return None
    where = exc.filename if isinstance(exc.filename, str) else None
    inside = out_dir is not None and where is not None and os.path.abspath(where).startswith(
        os.path.abspath(out_dir) + os.sep)
    if exc.errno not in _ANYWHERE and not inside:
        return None
    what, todo = _ENVIRONMENT_ERRNOS[exc.errno]
    target = f" writing {where}" if where else (f" writing to {out_dir}" if out_dir else "")
    return f"{what}{target}; {todo} and run the same command again to resume"
