"""The task plugin protocol.

A task turns one unit (a FASTA file or shard) into one output file. The
engine calls it in two places::

    main process                       worker process (one per device)
    ------------                       -------------------------------
    task = Cls(options)                task = Cls(options)
    task.check() -> notices            task.setup(device)        # once: load models
    task.fingerprint() (resume key)
                                       task.run_unit(unit, out, progress)  # per unit
    task.finalize_file(...)            task.teardown()
      (when every unit of a file is done: merge shard outputs)

``options`` is a plain dict (it crosses the process boundary by pickling).
Outputs must not depend on which device ran the unit: results are compared
byte for byte across runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from ..devices import DeviceSpec
from ..units import Unit

Progress = Callable[[int], None]  # sequences done so far within the unit


class Task:
    """Base class; subclass it and override ``run_unit`` (at least)."""

    name: ClassVar[str] = "task"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = dict(options or {})

    # -- main process -------------------------------------------------------
    def check(self) -> list[str]:
        """Validate options and models before any worker starts.

        Raise :class:`~virnucpro_bridge.errors.TaskError` for a problem the
        user must fix (exit 2). Return notices to show at start and in the
        summary (e.g. "demo models: predictions are meaningless").
        """
        return []

    def fingerprint(self) -> str:
        """A short string that changes whenever an option or model that changes
        outputs changes (called after ``check``). Resume keeps an earlier
        unit's result only when its manifest line carries the same string."""
        return ""

    def output_path(self, unit: Unit) -> str:
        """Where this unit's result goes, relative to ``--out``."""
        suffix = f".shard{unit.shard:04d}" if unit.shards > 1 else ""
        return f"units/{unit.rel}{suffix}.json"

    def finalize_file(self, rel: str, units: Sequence[tuple[Unit, Path]], out_dir: Path) -> list[Path]:
        """All units of input ``rel`` are done (``units`` in shard order):
        merge them into per-file results. Return the paths written."""
        return []

    # -- worker process -----------------------------------------------------
    def setup(self, device: DeviceSpec) -> None:
        """Load models onto ``device``; called once per worker."""
        self.device = device

    def run_unit(self, unit: Unit, output: Path, progress: Progress) -> int:
        """Process ``unit``, write ``output`` atomically, return sequences done."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Release what ``setup`` took. Called when the worker stops cleanly."""
