"""The driver's pending actor calls: what each is, for which device, from which actor.

Every remote call the driver makes is recorded here until its reply is taken.
An actor that is replaced or lost gets a new *generation*: replies from the
old one are then void (``take`` says so). At most one ``collect`` and one
``report`` call is pending per device. Used by the dispatcher thread only.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Taken(NamedTuple):
    kind: str  # "where", "setup", "collect", "report", "submit", "cut", "withdraw", "stop"
    device: int
    current: bool  # from the device's actor now (False: a replaced or lost one)


class PendingCalls:
    def __init__(self, devices: int) -> None:
        self.refs: dict[Any, tuple[str, int, int]] = {}  # pending call -> (kind, device, generation)
        self.generation = [0] * devices
        self.collecting: dict[int, Any] = {}  # device -> its pending collect call
        self.reporting: set[int] = set()  # devices with a report call pending

    def call(self, i: int, kind: str, method: Any, *args: Any) -> Any:
        """Call ``method`` (an actor method) remotely, on behalf of device ``i``."""
        ref = method.remote(*args)
        self.refs[ref] = (kind, i, self.generation[i])
        if kind == "collect":
            self.collecting[i] = ref
        elif kind == "report":
            self.reporting.add(i)
        return ref

    def of_kind(self, kind: str) -> list[Any]:
        return [ref for ref, (k, _, _) in self.refs.items() if k == kind]

    def take(self, ref: Any) -> Taken | None:
        """A call whose reply came (None: not pending, already taken)."""
        entry = self.refs.pop(ref, None)
        if entry is None:
            return None
        kind, i, generation = entry
        if kind == "collect" and self.collecting.get(i) is ref:
            del self.collecting[i]
        elif kind == "report":
            self.reporting.discard(i)
        return Taken(kind, i, generation == self.generation[i])

    def void(self, i: int) -> None:
        """Device ``i``'s actor is gone or being replaced: its pending calls mean nothing now."""
        self.generation[i] += 1
        self.collecting.pop(i, None)
        self.reporting.discard(i)
