"""Finding the three models: ``--models DIR`` or ``--models auto``.

``--models DIR``::

    DIR/esm/<name>.pt        fair-esm ESM-2 checkpoint ({"model": ..., "cfg": ...})
    DIR/dnabert/             DNABERT-S in the Hugging Face layout (config.json,
                             tokenizer.json, pytorch_model.bin or model.safetensors)
    DIR/classifier.pth       state dict or upstream's pickled module (or DIR/<L>_model.pth)
    DIR/demo_models.json     present only for ``lbtui models init-demo`` models

``--models auto`` looks, offline, where upstream's own downloads land: torch
hub's checkpoints (ESM-2), the Hugging Face cache (DNABERT-S), ``$VIRNUCPRO_DIR``
then the current folder (the classifier); see ``_locate_auto``. Nothing is ever
downloaded or executed: the Hugging Face cache is only looked up, fair-esm's hub
loader is never called, and no code a model folder holds is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import TaskError
from .esm_checkpoint import REGRESSION_SUFFIX, EsmInfo, load_esm, read_esm_checkpoint  # noqa: F401 - re-exported

DEMO_MARKER = "demo_models.json"
ESM_AUTO_NAME = "esm2_t36_3B_UR50D"
DNABERT_REPO = "zhihan1996/DNABERT-S"


@dataclass(frozen=True)
class ModelPaths:
    esm: Path
    dnabert: Path
    classifier: Path
    demo: bool = False
    root: Path | None = None  # the --models folder; None for auto


def offline() -> None:
    """Forbid network access by the Hugging Face stack (before it is imported)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@dataclass(frozen=True)
class Asked:
    """How the user named the models, for messages: ``lbtui run --models DIR`` or
    ``lbtui models check DIR`` (each names its own argument)."""

    arg: str  # what precedes the folder in a message: "--models " or ""
    then: str  # what to do when nothing is found


RUN = Asked("--models ", "give --models DIR")
CHECK = Asked("", "check that folder: lbtui models check DIR")
FETCH_HINT = "download the models with 'lbtui models fetch DIR' and "


# -- locating ------------------------------------------------------------------
def locate(models: str | os.PathLike[str], chunk_length: int, asked: Asked = RUN) -> ModelPaths:
    """Resolve ``--models`` to the three model paths; TaskError naming what is missing."""
    if str(models) == "auto":
        return _locate_auto(chunk_length, asked)
    root = Path(models).expanduser()
    if not root.is_dir():
        raise TaskError(f"{asked.arg}{root}: no such folder (expected esm/, dnabert/ and "
                        f"{chunk_length}_model.pth or classifier.pth; 'lbtui models fetch {root}' downloads them)")
    esm_dir = root / "esm"
    checkpoints = sorted(p for p in esm_dir.glob("*.pt") if not p.name.endswith(REGRESSION_SUFFIX)) \
        if esm_dir.is_dir() else []
    if not checkpoints:
        raise TaskError(f"ESM-2 checkpoint not found: no .pt file in {esm_dir}")
    if len(checkpoints) > 1:
        names = ", ".join(p.name for p in checkpoints)
        raise TaskError(f"{esm_dir}: several ESM checkpoints ({names}); keep exactly one")
    dnabert = root / "dnabert"
    if not (dnabert / "config.json").is_file():
        raise TaskError(f"DNABERT-S model not found: no config.json in {dnabert}")
    candidates = [root / "classifier.pth", root / f"{chunk_length}_model.pth"]
    classifier = next((p for p in candidates if p.is_file()), None)
    if classifier is None:
        other = 800 - chunk_length  # 300 <-> 500
        mismatch = (f" ({other}_model.pth is there: the classifier must match the chunk length, "
                    f"--chunk-length {other})") if (root / f"{other}_model.pth").is_file() else ""
        raise TaskError("classifier not found: looked for " + " and ".join(map(str, candidates)) + mismatch)
    return ModelPaths(checkpoints[0], dnabert, classifier, (root / DEMO_MARKER).is_file(), root)


def torch_hub_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir())


def _locate_auto(chunk_length: int, asked: Asked) -> ModelPaths:
    """Where upstream's own downloads land, offline::

        ESM-2       <torch hub dir>/checkpoints/esm2_t36_3B_UR50D.pt
                    (torch.hub.get_dir(): $TORCH_HOME/hub, default ~/.cache/torch/hub)
        DNABERT-S   the Hugging Face cache snapshot of zhihan1996/DNABERT-S
                    ($HF_HUB_CACHE, $HF_HOME/hub, default ~/.cache/huggingface/hub;
                    HF_HUB_OFFLINE=1, local_files_only=True)
        classifier  <L>_model.pth in $VIRNUCPRO_DIR (a clone of upstream), then in
                    the current folder
    """
    esm = torch_hub_dir() / "checkpoints" / f"{ESM_AUTO_NAME}.pt"
    if not esm.is_file():
        raise TaskError(f"{asked.arg}auto: ESM-2 checkpoint {ESM_AUTO_NAME}.pt not found in the torch hub "
                        f"cache (looked for {esm}); {FETCH_HINT}{asked.then}")
    dnabert = _hf_snapshot(DNABERT_REPO, asked)
    name = f"{chunk_length}_model.pth"
    places = [Path(os.environ["VIRNUCPRO_DIR"]) if os.environ.get("VIRNUCPRO_DIR") else None, Path.cwd()]
    looked = [p / name for p in places if p is not None]
    classifier = next((p for p in looked if p.is_file()), None)
    if classifier is None:
        raise TaskError(f"{asked.arg}auto: classifier {name} not found (looked for "
                        f"{' and '.join(map(str, looked))}); set VIRNUCPRO_DIR to upstream's clone, "
                        f"or {FETCH_HINT}{asked.then}")
    return ModelPaths(esm, dnabert, classifier, False, None)


def _hf_snapshot(repo: str, asked: Asked) -> Path:
    offline()
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means: not in the cache
        where = Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))
        raise TaskError(f"{asked.arg}auto: {repo} not found in the Hugging Face cache "
                        f"(looked in {where}); {FETCH_HINT}{asked.then}") from None
