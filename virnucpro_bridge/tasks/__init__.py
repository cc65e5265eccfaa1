"""Tasks: what a worker does with a unit. The registry of built-in names and
``package.module:Class`` user tasks.

    base.py        the Task protocol a custom task implements (``from virnucpro_bridge.tasks import Task``)
    phases.py      where a worker's time goes (input, cpu, gpu, write)
    prefetch.py    an iterator run in a thread ahead of its consumer
    sim.py         sleeps like inference, for simulated GPUs
    virnucpro/     the VirNucPro pipeline

May import: ``errors``, ``policy`` (the default speed prior), ``inputs`` (reading a unit),
``hardware`` (its device) and ``runfiles.atomic`` (writing its output); never the
coordinator or a backend.
"""

from __future__ import annotations

import importlib

from ..errors import UsageError
from .base import Progress, Task

# Built-ins are imported lazily: the virnucpro task pulls in torch,
# tokenizers and fair-esm, which a sim run should not pay for.
BUILTIN = {
    "sim": "virnucpro_bridge.tasks.sim:SimTask",
    "virnucpro": "virnucpro_bridge.tasks.virnucpro:VirNucProTask",
}


def load_task(spec: str) -> type[Task]:
    """Resolve a task name or ``package.module:Class`` to a Task subclass."""
    target = BUILTIN.get(spec, spec)
    if ":" not in target:
        known = ", ".join(sorted(BUILTIN))
        raise UsageError(f"unknown task {spec!r} (built-in: {known}; or package.module:Class)")
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(f"task {spec!r}: expected package.module:Class")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error the module raises while importing
        raise UsageError(f"task {spec!r}: cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise UsageError(f"task {spec!r}: {attr} in {module_name} is not a lbtui Task subclass")
    return cls


__all__ = ["BUILTIN", "Progress", "Task", "load_task"]
