"""Exceptions that end a run with one clear line on stderr (never a traceback)."""

from __future__ import annotations


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
