"""The task plugin protocol.

A task turns one unit (a FASTA file or shard) into one output file. The
engine calls it in two places::

    main process                       worker process (one per device)
    ------------                       -------------------------------
    task = Cls(options)                task = Cls(options)
    task.check() -> notices            task.setup(device)        # once: load models
                                       task.notes() -> {name: text}  (with each report)
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

from ..hardware.devices import DeviceSpec
from ..inputs.units import Unit

# progress(done): records of the unit done so far (relative to unit.start). It returns
# the unit's current end, the records the task must process: unit.count, or fewer once
# the engine cut the rest off for another device (only for a ``splittable`` task).
Progress = Callable[[int], "int | None"]


def current_end(reply: int | None, count: int) -> int:
    """The end a progress call returned; ``count`` when the engine did not say."""
    return count if reply is None else min(int(reply), count)


class Task:
    """Base class; subclass it and override ``run_unit`` (at least)."""

    name: ClassVar[str] = "task"
    # True: run_unit calls progress at record or batch boundaries, stops once
    # done >= the end it returns, and writes exactly that many records' results,
    # byte for byte what running those records as their own unit would write.
    # Only then may the engine cut a running unit and give its rest to another device.
    splittable: ClassVar[bool] = False

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
        return f"units/{unit.rel}{range_suffix(unit)}.json"

    def finalize_file(self, rel: str, units: Sequence[tuple[Unit, Path]], out_dir: Path) -> list[Path]:
        """All units of input ``rel`` are done (``units`` in input order, their
        record ranges tiling the file; a unit cut in flight covers its head only):
        merge them into per-file results. Return the paths written."""
        return []

    # -- worker process -----------------------------------------------------
    def setup(self, device: DeviceSpec) -> None:
        """Load models onto ``device``; called once per worker."""
        self.device = device

    def run_unit(self, unit: Unit, output: Path, progress: Progress) -> int:
        """Process ``unit``, write ``output`` atomically, return sequences done
        (the end the last progress call returned, for a splittable task)."""
        raise NotImplementedError

    def notes(self) -> dict[str, str]:
        """Short facts the task learned on its device (e.g. a batch size it had
        to lower), by name; the worker reports them with its readings, and they
        show in the device detail and summary.json. Called from the reporter
        thread: return plain strings, cheaply."""
        return {}

    def teardown(self) -> None:
        """Release what ``setup`` took. Called when the worker stops cleanly."""


def range_suffix(unit: Unit) -> str:
    """``""`` for a whole file, else ``.r<start>-<end>``: named by records, not by
    piece number, so a rerun that cuts a file differently never overwrites a
    result it keeps (a kept range and a new one never start at the same record)."""
    return "" if unit.whole else f".r{unit.start}-{unit.end}"
