"""The task plugin protocol.

A task turns one unit (a FASTA file or shard) into one output file. The engine
calls it in two places::

    main process                       worker process (one per device)
    task = Cls(options)                task = Cls(options)
    task.check() -> notices            task.setup(device)                  # once: load models
    task.fingerprint()  (resume key)   task.run_unit(unit, out, progress)  # per unit
    task.finalize_file(...)            task.notes(), .counts(), .phases    # with each report
      (a file's units all done: merge) task.teardown()
    task.summary() -> {...}  (at the end: figures for summary.json)

``options`` is a plain dict (it crosses the process boundary by pickling). Outputs
must not depend on which device ran the unit: results are compared byte for byte
across runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..hardware.devices import DeviceSpec
from ..inputs.fasta import Alphabet
from ..inputs.units import Unit
from ..policy.stealing import NOMINAL_RATE
from .phases import PhaseClock

# progress(done): records of the unit done so far (relative to unit.start). It returns
# the unit's current end, the records the task must process: unit.count, or fewer once
# the engine cut the rest off for another device (only for a ``splittable`` task).
#
# A task that cuts records into parts (``parts`` > 1) reports positions instead:
# progress((records, part)) = ``records`` records of the unit done and parts
# 0 .. part-1 of the next one (absolute within that record, part < its parts). It is
# answered in the same shape: (records, part), the position (relative to the unit's
# start record) the unit now stops before. Reports inside a record keep a long one
# from looking stalled. None always means "no news: keep going".
Progress = Callable[..., Any]
Stop = tuple[int, int]  # (records, part) relative to unit.start: where a unit stops


def unit_stop(unit: Unit) -> Stop:
    """Where ``unit`` stops, relative to its start record."""
    return (unit.count - 1, unit.end_part) if unit.end_part else (unit.count, 0)


def current_stop(reply: Any, unit: Unit) -> Stop:
    """The stop a progress call returned (a position, or a record count from an engine
    that speaks records only); the unit's own stop when the engine did not say."""
    full = unit_stop(unit)
    if reply is None:
        return full
    stop = (int(reply[0]), int(reply[1])) if isinstance(reply, tuple) else (int(reply), 0)
    return min(stop, full)


def part_range(unit: Unit, record: int, parts: int) -> tuple[int, int]:
    """The parts [first, last) of the unit's relative ``record`` (of ``parts``) it covers,
    up to ``stop``: the first record may start late, the last may end early."""
    first = unit.part if record == 0 else 0
    last = unit.end_part if record == unit.count - 1 and unit.end_part else parts
    return first, min(last, parts)


class Task:
    """Base class; subclass it and override ``run_unit`` (at least)."""

    name: ClassVar[str] = "task"
    # True: run_unit calls progress at record or batch boundaries, stops once
    # done >= the end it returns, and writes exactly that many records' results,
    # byte for byte what running those records as their own unit would write.
    # Only then may the engine cut a running unit and give its rest to another device.
    splittable: ClassVar[bool] = False
    # Seconds one unit costs beyond its records (hand-off, reading set-up, writing the
    # result, a part-filled last batch), measured for the task. Pieces are sized so it
    # stays under ~1 % of a unit's time (--split-min auto); the engine adds what it
    # measures of its own hand-off at run time.
    unit_overhead_s: ClassVar[float] = 0.05
    # Residues per second of a device of weight 1, before any unit has finished:
    # converts --split-min / --shard-size in seconds at plan time, and is each
    # device's speed prior. Measured rates replace it as units finish.
    nominal_rate: ClassVar[float] = NOMINAL_RATE
    # True: the workers compute with torch, so on CUDA devices ``lbtui run`` refuses a
    # CPU build of torch before starting them (``hardware/torch_build.py``).
    needs_cuda_torch: ClassVar[bool] = False
    # The letters run_unit reads in sequences (inputs.fasta.Alphabet): the scan refuses a
    # file of others before the run starts (exit 2). None: any letter, '*', '-', '.'.
    alphabet: ClassVar[Alphabet | None] = None

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

    def fingerprint_parts(self) -> dict[str, str]:
        """What ``fingerprint`` is made of, readable (``{"chunk length": "500"}``): recorded in
        run.json, so a rerun that cannot keep earlier results can say what changed."""
        return {}

    def parts(self, length: int) -> int:
        """How many parts a record of ``length`` residues has: places inside it where
        a unit may start or stop, because no result spans two parts (VirNucPro: its
        chunks). 1, the default: records are never cut. A task that returns more
        must handle ``unit.part`` / ``unit.end_part`` and report positions."""
        return 1

    def rate_prior(self) -> float:
        """``nominal_rate``, or what the task's options say (sim: --sim-rate)."""
        return float(self.nominal_rate)

    def output_path(self, unit: Unit) -> str:
        """Where this unit's result goes, relative to ``--out``."""
        return f"units/{unit.rel}{range_suffix(unit)}.json"

    def finalize_file(self, rel: str, units: Sequence[tuple[Unit, Path]], out_dir: Path) -> list[Path]:
        """All units of input ``rel`` are done (``units`` in input order, their
        record ranges tiling the file; a unit cut in flight covers its head only):
        merge them into per-file results. Return the paths written."""
        return []

    def summary(self) -> dict[str, Any]:
        """Figures for summary.json, from what ``finalize_file`` saw (called once, at the end).
        ``results_dir``: the folder under ``--out`` that holds the per-file results."""
        return {}

    def verify_file(self, rel: str, units: Sequence[tuple[Unit, Path]], out_dir: Path) -> list[tuple[str, str]]:
        """``lbtui verify``: whether input ``rel``'s per-file results are what ``finalize_file``
        makes of ``units`` (vouched for, tiling the file). Returns (path under ``out_dir``,
        what is wrong) pairs; none when consistent, or when the task merges nothing."""
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

    def counts(self) -> dict[str, int]:
        """Events counted on this device since setup (e.g. batches redone in float32), by
        name; reported like ``notes``, and summed over a device's workers in summary.json."""
        return {}

    @property
    def phases(self) -> PhaseClock:
        """Where the unit-running thread's time goes (``tasks/phases.py``): the worker
        switches to ``input`` and ``write`` around units, ``run_unit`` may switch to
        ``gpu`` (the model), ``input`` (waiting on its own prefetch) and ``write``."""
        clock = self.__dict__.get("_phases")
        if clock is None:
            clock = self.__dict__["_phases"] = PhaseClock()
        return clock

    def teardown(self) -> None:
        """Release what ``setup`` took. Called when the worker stops cleanly."""


def range_suffix(unit: Unit) -> str:
    """``""`` for a whole file, else ``.r<start>-<end>`` (``.r5p120-6`` when a bound
    falls inside a record): named by position, not by piece number, so a rerun
    that cuts a file differently never overwrites a result it keeps (a kept span
    and a new one never start at the same position)."""
    if unit.whole:
        return ""
    (r0, p0), (r1, p1) = unit.begin, unit.stop
    return f".r{r0}" + (f"p{p0}" if p0 else "") + f"-{r1}" + (f"p{p1}" if p1 else "")
