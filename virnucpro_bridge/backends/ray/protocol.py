"""What crosses between the driver and a device actor, as small classes.

    driver ── submit([Job, ...]) ──────────▶ actor's queue (runs them one at a time)
    driver ── cut(ticket, Cut) ────────────▶ applied at the task's next progress call
    driver ── withdraw([ticket, ...]) ─────▶ jobs not started are dropped; returns which
    driver ◀── collect() ─ Collected([CutAnswer | UnitReply, ...]) ── the actor's outbox

Every job has a ticket (unique per run, from the driver), so a reply names
the job it answers and the driver never depends on the order calls arrive
in (a threaded actor may run two calls out of order). Within one actor the
outbox keeps order: a cut's answer always comes before its job's reply, as
``CutAt`` comes before ``Done`` on a local worker's pipe.

Plain frozen dataclasses, pickled by Ray. This module never imports ray.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...coordinator.messages import CutAt, Done, Failed
from ...inputs.fasta import Record
from ...inputs.units import Unit


@dataclass(frozen=True)
class Job:
    ticket: int
    unit: Unit  # as the driver planned it: start and count are the file's own record numbers
    text: bytes  # the unit's records as FASTA (fasta_text): the actor needs no shared file system


@dataclass(frozen=True)
class CutAnswer:
    ticket: int
    answer: CutAt  # the record the job stops before (absolute), or None: it runs whole


@dataclass(frozen=True)
class UnitReply:
    ticket: int
    reply: Done | Failed  # Done.started/ended on the actor's clock (see Collected.clock)
    result: bytes | None  # the task's output file, on success


@dataclass(frozen=True)
class Collected:
    items: tuple[CutAnswer | UnitReply, ...]
    clock: float  # the actor's time.time() when it answered: corrects clock skew between nodes
    report: dict[str, Any] | None = None  # its live readings (as ``report()``), so a busy actor needs no report call


@dataclass(frozen=True)
class Placement:
    """Where an actor runs, known as soon as its process is up."""

    pid: int
    node_id: str  # Ray node id (hex)
    host: str


@dataclass(frozen=True)
class ActorReady:
    """Setup finished. The device as the actor sees it: a CUDA actor names its
    own GPU, so the capability weight comes from the node that runs it."""

    pid: int
    name: str
    weight: float
    known: bool


def fasta_text(records: Iterable[Record]) -> bytes:
    """Records as FASTA that parses back to the same ids, headers and sequences."""
    return "".join(f">{r.description}\n{r.sequence}\n" for r in records).encode("utf-8")
