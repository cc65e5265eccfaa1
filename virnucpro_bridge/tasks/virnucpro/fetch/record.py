"""``DIR/models.json``: what ``models fetch`` put in a models folder, and checking it later.

    {"format": 1, "dnabert_revision": "<commit or branch>",
     "files": {"esm/esm2_t36_3B_UR50D.pt": {"sha256": "...", "size": 5678901234,
               "source": "<URL or cache path>", "checked": "<what it was checked against>",
               "fetched": "2025-01-31T12:00:00+00:00"}, ...}}

``verify`` hashes every file it lists and names the first that is missing, has
another size, or hashes differently: a download damaged later, a disk error, a
file swapped by hand. Files it does not list (a classifier added by hand) are
not its business. The file is written atomically, like every result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ....errors import TaskError
from ....runfiles.atomic import atomic_open

RECORD = "models.json"
FORMAT = 1
BLOCK = 1 << 20  # bytes hashed per read


class Hasher:
    """sha256 and the git blob sha1 of a file, fed block by block (a git blob id needs
    the size up front: give it when known, else only sha256 is kept)."""

    def __init__(self, size: int | None = None) -> None:
        self.sha256 = hashlib.sha256()
        self.git = hashlib.sha1(f"blob {size}\0".encode()) if size is not None else None  # noqa: S324 - git's id
        self.size = 0

    def update(self, block: bytes) -> None:
        self.sha256.update(block)
        if self.git is not None:
            self.git.update(block)
        self.size += len(block)

    def feed(self, path: Path, progress: Callable[[int], None] | None = None) -> Hasher:
        with open(path, "rb") as fh:
            while block := fh.read(BLOCK):
                self.update(block)
                if progress is not None:
                    progress(len(block))
        return self

    def git_sha1(self) -> str | None:
        return self.git.hexdigest() if self.git is not None else None


def read(root: Path) -> dict[str, Any]:
    """The record in ``root`` ({} when there is none); TaskError when it is unreadable."""
    path = root / RECORD
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise TaskError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise TaskError(f"{path}: not valid JSON (damaged? run lbtui models fetch {root} again)") from None
    if not isinstance(data, dict) or not isinstance(data.get("files", {}), dict):
        raise TaskError(f"{path}: not a models.json written by lbtui models fetch")
    return data


def add(root: Path, dest: str, entry: dict[str, Any], revision: str | None = None) -> None:
    """Record one fetched file (rewriting models.json atomically)."""
    data = read(root) or {"format": FORMAT, "files": {}}
    data.setdefault("files", {})[dest] = {**entry, "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if revision is not None:
        data["dnabert_revision"] = revision
    with atomic_open(root / RECORD) as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def verify(root: Path, progress: Callable[[str, int, int], None] | None = None) -> list[str]:
    """Check every file models.json lists; the paths checked. TaskError (one line) at
    the first that is missing, resized or different. ``progress(dest, done, total)``."""
    files = read(root).get("files", {})
    checked = []
    for dest, entry in sorted(files.items()):
        path = root / dest
        want_size, want_sha = entry.get("size"), entry.get("sha256")
        hint = f"run lbtui models fetch {root} again to fetch it anew"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise TaskError(f"{path}: missing, but {RECORD} lists it ({hint})") from None
        if want_size is not None and size != want_size:
            raise TaskError(f"{path}: {size:,} bytes, but {RECORD} recorded {want_size:,} "
                            f"(truncated or replaced; {hint})")
        done = 0

        def step(n: int, dest: str = dest, total: int = size) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(dest, done, total)

        got = Hasher().feed(path, step).sha256.hexdigest()
        if want_sha is not None and got != want_sha:
            raise TaskError(f"{path}: sha256 {got[:12]}... differs from the {want_sha[:12]}... {RECORD} "
                            f"recorded (damaged or replaced; {hint})")
        checked.append(dest)
    return checked
