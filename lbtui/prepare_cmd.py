"""``lbtui prepare``: owned by the VirNucPro task work (issue 4)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="(not built yet)")
    p.set_defaults(handler=lambda args: 2)
