"""The ``virnucpro`` task: upstream VirNucPro prediction on one unit at a time.

Importing this package does not import torch; models load in ``setup``.
"""

from __future__ import annotations

from .task import VirNucProTask

__all__ = ["VirNucProTask"]
