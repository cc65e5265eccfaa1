"""A cheap look at a torch file before ``torch.load``: a truncated or empty one gets one plain line.

``torch.save`` writes a zip archive whose directory sits at its very end, so a
file cut short anywhere (an interrupted copy or download) has none. ``torch.load``
then fails with a paragraph about miniz, or with ``[Errno 22] Invalid argument``
when memory-mapping; this says what happened instead. Damage inside a complete
archive is what ``models.json``'s sha256 is for (``lbtui models check``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ...errors import TaskError

ZIP_MAGIC = b"PK\x03\x04"


def check_archive(path: Path, what: str) -> None:
    """TaskError when ``path`` (a ``what``: "ESM-2 checkpoint", ...) is empty or a cut-off zip."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(ZIP_MAGIC))
    except FileNotFoundError:
        return  # the loader says "not found" in its own words
    except OSError as exc:
        raise TaskError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if not head:
        raise TaskError(f"{path}: empty file (the {what} was not copied or downloaded whole)")
    if head != ZIP_MAGIC:
        return  # torch's legacy format: nothing to check cheaply
    try:
        with zipfile.ZipFile(path):
            pass
    except (zipfile.BadZipFile, OSError):
        size = path.stat().st_size
        raise TaskError(f"{path}: truncated or damaged ({size:,} bytes, no zip directory at its end): the "
                        f"{what} was cut short; copy or download it again") from None
