"""What ``models fetch`` downloads, from where, and what each file must hash to.

Every URL is the one its publisher's own code uses (read in that code):

    ESM-2 3B     fair-esm 2.0.0 ``load_model_and_alphabet_hub``: dl.fbaipublicfiles.com/fair-esm/
                 models/<name>.pt and regression/<name>-contact-regression.pt (no checksum)
    DNABERT-S    huggingface_hub's ``hf_hub_url``: <endpoint>/<repo>/resolve/<revision>/<file>;
                 ``X-Linked-Etag`` (or ``ETag``) is the sha256 of a git-lfs file, else its git
                 blob sha1; ``X-Repo-Commit`` the commit a branch name resolved to
    classifier   upstream VirNucPro's repository keeps ``300_model.pth`` and ``500_model.pth``
                 in git; their blob ids at the pinned commit are pinned here

A mirror serves the same paths under another base URL (``--mirror URL`` or
``LBTUI_MODELS_MIRROR``: every file; ``HF_ENDPOINT``: DNABERT-S only).
``LBTUI_MODELS_PINS`` names a JSON file whose checksums replace the pinned ones,
for a site that mirrors a different build (and for the tests' stand-in models).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from ....errors import UsageError

ESM_NAME = "esm2_t36_3B_UR50D"
FAIR_ESM = "https://dl.fbaipublicfiles.com/fair-esm"
HF_ENDPOINT = "https://huggingface.co"
DNABERT_REPO = "zhihan1996/DNABERT-S"
# A branch name: huggingface.co answers with the commit it stands for (X-Repo-Commit), and
# every file is then fetched at that commit and the commit is kept in models.json. No commit
# is pinned here because none could be checked from where this was written (no network).
DNABERT_REVISION = "main"
DNABERT_FILES = ("config.json", "tokenizer.json", "pytorch_model.bin")  # what lbtui reads
GITHUB_RAW = "https://raw.githubusercontent.com"
VIRNUCPRO_REPO = "Li-Jing-1997/VirNucPro"
VIRNUCPRO_COMMIT = "0f93f2755a7ea1acd3ff1bcf182892f960ef3326"  # upstream's HEAD; the .pth files date from 0b7e6f1
CLASSIFIER_BLOBS = {  # git blob ids of the classifiers in that commit's tree
    300: "a0b5b85e7c1e44f00cde146d091beb82b2c8e855",
    500: "fc35d5ef9f1f4564eea7036f34f4f8ec6000d33d",
}
MIRROR_ENV = "LBTUI_MODELS_MIRROR"
PINS_ENV = "LBTUI_MODELS_PINS"
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class ModelFile:
    """One file to fetch: where it goes under DIR, where it comes from, what it must be."""

    dest: str  # path under DIR, "/"-separated: "esm/esm2_t36_3B_UR50D.pt"
    url: str  # the publisher's URL (before any mirror)
    model: str  # "ESM-2", "DNABERT-S", "classifier"
    about: str  # its approximate size, for the README and the plan ("5.7 GB")
    sha256: str | None = None  # pinned by lbtui
    git_sha1: str | None = None  # pinned by lbtui: the git blob id
    size: int | None = None  # pinned by lbtui
    hf: bool = False  # served by a Hugging Face endpoint: its ETag is a checksum

    @property
    def name(self) -> str:
        return self.dest.rsplit("/", 1)[-1]


def hf_url(endpoint: str, filename: str, revision: str) -> str:
    return f"{endpoint.rstrip('/')}/{DNABERT_REPO}/resolve/{revision}/{filename}"


def catalogue(chunk_length: int, revision: str = DNABERT_REVISION) -> list[ModelFile]:
    """The files of the three models, for a classifier of ``chunk_length``."""
    if chunk_length not in CLASSIFIER_BLOBS:
        raise UsageError(f"--chunk-length {chunk_length}: upstream publishes classifiers for 300 and 500 only")
    files = [
        ModelFile(f"esm/{ESM_NAME}.pt", f"{FAIR_ESM}/models/{ESM_NAME}.pt", "ESM-2", "5.7 GB"),
        ModelFile(f"esm/{ESM_NAME}-contact-regression.pt", f"{FAIR_ESM}/regression/{ESM_NAME}-contact-regression.pt",
                  "ESM-2", "a few kB"),
    ]
    sizes = {"config.json": "1 kB", "tokenizer.json": "168 kB", "pytorch_model.bin": "468 MB"}
    files += [ModelFile(f"dnabert/{name}", hf_url(HF_ENDPOINT, name, revision), "DNABERT-S", sizes[name], hf=True)
              for name in DNABERT_FILES]
    name = f"{chunk_length}_model.pth"
    files.append(ModelFile(name, f"{GITHUB_RAW}/{VIRNUCPRO_REPO}/{VIRNUCPRO_COMMIT}/{name}", "classifier",
                           "7 MB", git_sha1=CLASSIFIER_BLOBS[chunk_length]))
    return apply_pins(files)


def located(file: ModelFile, mirror: str | None, env: dict[str, str] | None = None) -> str:
    """The URL to fetch ``file`` from: the publisher's, or the same path on a mirror."""
    env = os.environ if env is None else env
    base = mirror or env.get(MIRROR_ENV) or ""
    if not base and file.hf and env.get("HF_ENDPOINT"):
        base = env["HF_ENDPOINT"]
    if not base:
        return file.url
    check_base(base)
    parts = urlsplit(file.url)
    return base.rstrip("/") + parts.path


def check_base(base: str) -> None:
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"mirror {base!r}: expected an http:// or https:// URL")


def with_revision(files: list[ModelFile], revision: str) -> list[ModelFile]:
    """DNABERT-S's files at ``revision`` (the commit a branch name resolved to)."""
    return [replace(f, url=hf_url(f.url.split(f"/{DNABERT_REPO}/")[0], f.name, revision)) if f.hf else f
            for f in files]


def apply_pins(files: list[ModelFile], env: dict[str, str] | None = None) -> list[ModelFile]:
    """Replace pinned checksums with those in ``$LBTUI_MODELS_PINS`` (a JSON object:
    dest -> {"sha256", "git_sha1", "size"}; a file it names loses lbtui's own pins)."""
    env = os.environ if env is None else env
    where = env.get(PINS_ENV)
    if not where:
        return files
    pins = read_pins(Path(where))
    out = []
    for f in files:
        pin = pins.get(f.dest)
        out.append(f if pin is None else replace(f, sha256=pin.get("sha256"), git_sha1=pin.get("git_sha1"),
                                                 size=pin.get("size")))
    return out


def read_pins(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"${PINS_ENV} ({path}): cannot read as JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(f"${PINS_ENV} ({path}): expected {{\"<path under DIR>\": {{\"sha256\": ...}}}}")
    for dest, pin in data.items():
        for key, length in (("sha256", 64), ("git_sha1", 40)):
            value = pin.get(key)
            if value is not None and not (isinstance(value, str) and len(value) == length and _HEX.match(value)):
                raise UsageError(f"${PINS_ENV} ({path}): {dest}: {key} is not {length} hex digits")
        if pin.get("size") is not None and not isinstance(pin["size"], int):
            raise UsageError(f"${PINS_ENV} ({path}): {dest}: size is not an integer")
    return data


def pins_overridden(env: dict[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return env.get(PINS_ENV) or None
