"""Piece sizes with a unit: ``--shard-size`` and ``--split-min`` (pure: text in, numbers out).

A size says how much work a piece holds, in one of three units::

    1000            records (a plain count: what scripts wrote before sizes had units)
    50k  5M  2G     residues (k = 10^3, M = 10^6, G = 10^9; "bp" may follow: 5Mbp)
    200000bp        residues
    2s  0.5s  750ms seconds of work on the device that runs the piece
    auto            (--split-min only) the 1 % rule: 100 × the unit's fixed cost

Records were the only unit once, but a record can be 60 bases or 5 million:
residues are what a device's time follows, and seconds are what a user wants
from a piece (the engine converts them with each device's measured rate).
A lower-case ``m`` alone is refused: 2m could mean minutes or millions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

RECORDS, RESIDUES, SECONDS, AUTO = "records", "residues", "seconds", "auto"
_MULTIPLIERS = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "g": 1e9}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")
GRAMMAR = "N records, 50k / 5M / 2G / 200000bp residues, 2s / 750ms seconds"


@dataclass(frozen=True)
class Size:
    amount: float
    unit: str  # RECORDS, RESIDUES, SECONDS or AUTO

    def __str__(self) -> str:
        if self.unit == AUTO:
            return "auto"
        if self.unit == SECONDS:
            return f"{self.amount:g}s"
        if self.unit == RESIDUES:
            return f"{self.amount:,.0f} residues"
        return f"{self.amount:,.0f} records"

    @property
    def records(self) -> int | None:
        """The count, when this size is in records."""
        return int(self.amount) if self.unit == RECORDS else None


def parse_size(text: str, *, allow_auto: bool = False) -> Size:
    """Read a size (see the module docstring); ValueError with a one-line reason."""
    if allow_auto and text.strip().lower() == AUTO:
        return Size(0.0, AUTO)
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (expected {GRAMMAR})")
    number, suffix = float(m.group(1)), m.group(2)
    if suffix == "":
        if "." in m.group(1):
            raise ValueError(f"{text!r}: a record count must be a whole number")
        size = Size(number, RECORDS)
    elif suffix in ("s", "ms"):
        size = Size(number / 1000.0 if suffix == "ms" else number, SECONDS)
    elif suffix == "m":
        raise ValueError(f"{text!r}: ambiguous; write {m.group(1)}M for millions of residues "
                         f"or a number of seconds such as 120s")
    else:
        scale = suffix[:-2] if suffix.lower().endswith("bp") else suffix
        if scale not in _MULTIPLIERS:
            raise ValueError(f"{text!r}: unknown unit {suffix!r} (expected {GRAMMAR})")
        size = Size(round(number * _MULTIPLIERS[scale]), RESIDUES)
    if not size.amount > 0 or not math.isfinite(size.amount):
        raise ValueError(f"{text!r}: must be more than zero")
    return size


def as_size(value: Size | int | str) -> Size:
    """A Size from what a caller passed: a Size, a plain record count, or text."""
    if isinstance(value, Size):
        return value
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{value}: must be at least 1")
        return Size(float(value), RECORDS)
    return parse_size(value, allow_auto=True)


def check_order(largest: Size, smallest: Size) -> None:
    """ValueError when ``smallest`` (--split-min) exceeds ``largest`` (--shard-size) in the same
    unit: no piece could be both. Sizes in different units compare only once rates are known."""
    if smallest.unit == largest.unit and smallest.unit != AUTO and smallest.amount > largest.amount:
        raise ValueError(f"--split-min {smallest} is larger than --shard-size {largest}: the smallest piece "
                         "cannot be larger than the largest")
