"""``models fetch --from-cache``: the same files, copied from where upstream's own downloads land.

    ESM-2       <torch hub dir>/checkpoints/<name>   (fair-esm's load_model_and_alphabet)
    DNABERT-S   <HF hub cache>/models--zhihan1996--DNABERT-S/snapshots/<commit>/<file>,
                the commit from refs/<revision>; each file links to blobs/<ETag>, so the
                blob's name is its checksum (sha256 for LFS files, git blob id otherwise)
    classifier  <L>_model.pth in $VIRNUCPRO_DIR (a clone of upstream), then the current folder

Copies go through ``<dest>.part`` and the same checks as a download.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .download import FetchError, Progress, Published, check
from .sources import DNABERT_REPO, ModelFile

_HEX40, _HEX64 = re.compile(r"^[0-9a-f]{40}$"), re.compile(r"^[0-9a-f]{64}$")


def hf_cache_dir() -> Path:
    from huggingface_hub import constants  # reads HF_HUB_CACHE / HF_HOME as huggingface_hub does

    return Path(constants.HF_HUB_CACHE)


def torch_hub_dir() -> Path:
    from ..models import torch_hub_dir as hub

    return hub()


def dnabert_snapshot(revision: str) -> tuple[Path, str]:
    """The cached snapshot folder of DNABERT-S at ``revision`` (a branch or a commit) and its commit."""
    repo = hf_cache_dir() / ("models--" + DNABERT_REPO.replace("/", "--"))
    commit = revision
    if not _HEX40.match(revision):
        try:
            commit = (repo / "refs" / revision).read_text(encoding="utf-8").strip()
        except OSError:
            raise FetchError(f"--from-cache: {DNABERT_REPO} ({revision}) is not in the Hugging Face cache "
                             f"(no {repo / 'refs' / revision})") from None
    return repo / "snapshots" / commit, commit


def source_for(file: ModelFile, revision: str) -> tuple[Path, Published]:
    """Where ``file`` is in the caches, and the checksum its cache name carries."""
    if file.model == "ESM-2":
        return torch_hub_dir() / "checkpoints" / file.name, Published()
    if file.model == "DNABERT-S":
        snapshot, commit = dnabert_snapshot(revision)
        path = snapshot / file.name
        blob = os.path.basename(os.path.realpath(path)) if path.is_symlink() else ""
        pub = Published(commit=commit, whose="its Hugging Face cache blob name")
        if _HEX64.match(blob):
            pub.sha256 = blob
        elif _HEX40.match(blob):
            pub.git_sha1 = blob
        return path, pub
    places = [Path(os.environ["VIRNUCPRO_DIR"])] if os.environ.get("VIRNUCPRO_DIR") else []
    places.append(Path.cwd())
    found = next((p / file.name for p in places if (p / file.name).is_file()), None)
    return (found or places[0] / file.name), Published()


def copy_file(file: ModelFile, revision: str, dest: Path, progress: Progress | None = None,
              copy: Callable[[Path, Path], object] = shutil.copyfile) -> dict[str, Any]:
    """Copy ``file`` out of the caches into ``dest`` (through ``dest``.part); the record entry."""
    source, pub = source_for(file, revision)
    if not source.is_file():
        raise FetchError(f"--from-cache: {file.model} file {file.name} not found (looked for {source})")
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if progress is not None:
        progress("get", 0, source.stat().st_size)
    copy(source, part)
    if progress is not None:
        progress("get", part.stat().st_size, source.stat().st_size)
    entry = check(file, part, pub, progress)
    os.replace(part, dest)
    entry["source"] = str(source)
    entry["commit"] = pub.commit
    return entry
