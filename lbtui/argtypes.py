"""argparse value types shared by the subcommands: one clear message each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from virnucpro_bridge.policy.sizes import Size, parse_size

N = TypeVar("N", int, float)


def number(kind: type[N], *, minimum: float | None = None, above: float | None = None,
           below: float | None = None) -> Callable[[str], N]:
    """A converter for ``kind`` (int or float) with optional bounds."""
    noun = "an integer" if kind is int else "a number"

    def convert(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum:g}: {text!r}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be > {above:g}: {text!r}")
        if below is not None and not value < below:
            raise argparse.ArgumentTypeError(f"must be < {below:g}: {text!r}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in some messages
    return convert


positive_float = number(float, above=0)
positive_int = number(int, minimum=1)
non_negative_int = number(int, minimum=0)
fraction = number(float, minimum=0, below=1)  # [0, 1)


def size(text: str) -> Size:
    """A piece size: records, residues or seconds (``virnucpro_bridge.policy.sizes``)."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def size_or_auto(text: str) -> Size:
    try:
        return parse_size(text, allow_auto=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
