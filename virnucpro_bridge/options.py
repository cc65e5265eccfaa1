"""The options of one run, parsed once and carried whole: :class:`RunOptions`.

    lbtui run's parser ─▶ RunOptions ─▶ Run (runner) ─▶ Coordinator, backend, Housekeeping

Each reads the fields it uses from the one object, so an option is spelled
only in the parser, here, and where it acts. A ``RunOptions`` is valid once
made: a bad backend or stall action is a ``UsageError`` here, sizes become
:class:`~virnucpro_bridge.policy.sizes.Size`.

May import: ``errors``, ``policy`` and the standard library.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from .errors import UsageError
from .policy.planning import DEFAULT_SHARD_RECORDS
from .policy.sizes import AUTO, RECORDS, Size, as_size, check_order

BACKENDS = ("local", "ray")  # local: worker processes here (backends/local); ray: actors (backends/ray)
STALL_FLAG = "flag"  # a stalled device is only shown as stalled
STALL_RESTART = "restart"  # its worker is replaced and its unit redone elsewhere (a hung CUDA kernel)
STALL_ACTIONS = (STALL_FLAG, STALL_RESTART)


@dataclass(frozen=True)
class RunOptions:
    """``lbtui run``'s options (``--help`` says what each does). Sizes may be given
    as a Size, a record count or text; they are kept as Sizes."""

    inputs: tuple[str, ...] = ()
    gpus: str = "auto"
    task: str | None = None  # None: sim on simulated devices, else virnucpro
    out: str = "lbtui-results"
    backend: str = "local"
    ray_address: str | None = None  # None: a local Ray instance
    steal: bool = True
    weighted: bool = True
    steal_interval: float = 2.0
    stall_timeout: float = 300.0
    stall_action: str = STALL_RESTART
    retries: int = 2
    shard_size: Size = Size(float(DEFAULT_SHARD_RECORDS), RECORDS)  # the largest piece
    split: bool = True  # plan-time factoring and in-flight cuts; False: fixed shards (--no-split)
    split_min: Size = Size(0.0, AUTO)  # the smallest piece; auto: 100 × a unit's fixed cost
    grace: float | None = None  # None: hardware.slurm.choose_grace (20 s, or from Slurm's KillWait)
    refresh: float = 2.0
    progress_interval: float = 60.0  # headless without a terminal: seconds between progress lines
    verbose: bool = False  # headless without a terminal: every device's line, and each steal and split
    metrics_log: str | None = None
    notify: str | None = None  # --notify CMD: run on alerts (alerts/hooks.py)
    notify_url: str | None = None  # --notify-url URL: alerts POSTed as JSON
    task_options: Mapping[str, Any] = field(default_factory=dict)  # read-only; each task copies it
    argv: tuple[str, ...] = field(default_factory=lambda: tuple(sys.argv))  # recorded in run.json

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(f"--backend {self.backend}: expected {' or '.join(BACKENDS)}")
        if self.stall_action not in STALL_ACTIONS:
            raise UsageError(f"--stall-action {self.stall_action}: expected one of {', '.join(STALL_ACTIONS)}")
        try:
            sizes = as_size(self.shard_size), as_size(self.split_min)
            check_order(*sizes)
        except ValueError as exc:
            raise UsageError(f"piece size: {exc}") from None
        for name, value in (("shard_size", sizes[0]), ("split_min", sizes[1]), ("inputs", tuple(self.inputs)),
                            ("argv", tuple(self.argv)),
                            ("task_options", MappingProxyType(dict(self.task_options)))):
            object.__setattr__(self, name, value)  # frozen: set once, here

    @property
    def restart_stalled(self) -> bool:
        """--stall-action restart: a stalled worker is replaced."""
        return self.stall_action == STALL_RESTART

    @classmethod
    def from_values(cls, values: Mapping[str, Any], **more: Any) -> RunOptions:
        """The options among ``values`` (a parsed command line's, by field name;
        the rest are the UI's), with ``more`` on top."""
        names = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in values.items() if k in names}, **more})


DEFAULTS = RunOptions(argv=())  # every option at its default (the parser's defaults too)
