"""The whole fetch: every file of the three models into ``DIR``, each recorded in models.json.

A file already fetched (models.json lists it at its size) is skipped, so a
fetch that stopped halfway is finished by running it again; a partial
download resumes where it stopped. A file under DIR that models.json does
not list is never overwritten. One fetch writes a folder at a time (a lock
file), and no models folder of ``init-demo`` is touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ....errors import environment_error
from ..models import DEMO_MARKER
from . import record
from .cache import copy_file
from .download import FetchError, Unreachable, fetch_file
from .sources import DNABERT_REVISION, ModelFile, catalogue, located, with_revision

LOCK = ".models-fetch.lock"


@dataclass(frozen=True)
class FetchOptions:
    root: Path
    chunk_length: int = 500
    mirror: str | None = None
    from_cache: bool = False
    revision: str | None = None  # DNABERT-S's; None: the one models.json records, else DNABERT_REVISION
    timeout: float = 20.0  # seconds without an answer before a host counts as unreachable
    retries: int = 3  # tries again after a cut connection, resuming


class Listener(Protocol):
    def begin(self, file: ModelFile, source: str) -> None: ...
    def progress(self, phase: str, done: int, total: int | None) -> None: ...
    def end(self, file: ModelFile, entry: dict[str, Any] | None) -> None: ...  # None: already there


def revision_for(opts: FetchOptions) -> str:
    recorded = record.read(opts.root).get("dnabert_revision") if opts.root.is_dir() else None
    return opts.revision or recorded or DNABERT_REVISION


def plan(opts: FetchOptions) -> list[tuple[ModelFile, str]]:
    """Each file and where it will come from (a URL, or "cache")."""
    files = catalogue(opts.chunk_length, revision_for(opts))
    return [(f, "cache" if opts.from_cache else located(f, opts.mirror)) for f in files]


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FetchError(f"{root}: another lbtui models fetch is writing this folder") from None
        yield
    finally:
        os.close(fd)


def _prepare(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise FetchError(f"{root}: not a folder")
    if (root / DEMO_MARKER).is_file():
        raise FetchError(f"{root}: holds demo models (lbtui models init-demo); give another folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"{root}: cannot create the folder: {exc.strerror or exc}") from None


def _already(root: Path, file: ModelFile, recorded: dict[str, Any]) -> bool:
    """True: fetched before (listed at this size). FetchError for a file lbtui did not put there."""
    dest = root / file.dest
    if not dest.exists():
        return False
    entry = recorded.get(file.dest)
    if entry is None:
        raise FetchError(f"{dest}: already there but not fetched by lbtui (models.json does not list it); "
                         "move it away, or use the folder as it is with --models")
    size = dest.stat().st_size
    if size != entry.get("size"):
        raise FetchError(f"{dest}: {size:,} bytes, but models.json recorded {entry.get('size')}: damaged? "
                         "remove it and run the same command again")
    return True


def fetch_all(opts: FetchOptions, listener: Listener) -> list[ModelFile]:
    """Fetch every missing file; the files fetched now (the rest were there). FetchError: one line."""
    root = opts.root
    _prepare(root)
    with _locked(root):
        recorded = record.read(root).get("files", {})
        revision = revision_for(opts)
        files = catalogue(opts.chunk_length, revision)
        fetched = []
        for i, file in enumerate(files):
            if _already(root, file, recorded):
                listener.end(file, None)
                continue
            file = files[i]  # DNABERT-S's URL may have moved to the commit its branch resolved to
            source = "cache" if opts.from_cache else located(file, opts.mirror)
            listener.begin(file, source)
            entry = _one(opts, file, source, revision, listener)
            commit = entry.pop("commit", None)
            if file.hf and commit and commit != revision:
                revision = commit  # the rest of DNABERT-S from the same commit
                files = with_revision(files, revision)
            record.add(root, file.dest, entry, revision=revision if file.hf else None)
            listener.end(file, entry)
            fetched.append(file)
        return fetched


def _one(opts: FetchOptions, file: ModelFile, source: str, revision: str, listener: Listener) -> dict[str, Any]:
    dest = opts.root / file.dest
    try:
        if opts.from_cache:
            return copy_file(file, revision, dest, listener.progress)
        return fetch_file(file, source, dest, timeout=opts.timeout, retries=opts.retries,
                          progress=listener.progress)
    except Unreachable as exc:
        raise FetchError(f"{exc} (after at most {opts.timeout:g} s); to fetch by hand elsewhere, "
                         f"'lbtui models fetch {opts.root} --urls' lists every URL and its place under "
                         f"{opts.root}; or use --mirror URL or --from-cache") from None
    except FetchError:
        raise
    except OSError as exc:
        disk = environment_error(exc, str(opts.root))
        raise FetchError(disk or f"{dest}: {exc.strerror or exc}; run the same command again to resume "
                         "(what was downloaded is kept)") from None
