"""Finding and checking the three models, and loading the two language models.

``--models DIR``::

    DIR/esm/<name>.pt        fair-esm ESM-2 checkpoint ({"model": ..., "cfg": ...})
    DIR/dnabert/             transformers BERT folder (config.json, weights, tokenizer)
    DIR/classifier.pth       state dict or upstream's pickled module
                             (or DIR/<L>_model.pth, upstream's file name)
    DIR/demo_models.json     present only for ``lbtui models init-demo`` models

``--models auto`` looks where upstream's own downloads land, offline:

    ESM-2       <torch hub dir>/checkpoints/esm2_t36_3B_UR50D.pt
                (torch.hub.get_dir(): $TORCH_HOME/hub, default ~/.cache/torch/hub)
    DNABERT-S   the Hugging Face cache snapshot of zhihan1996/DNABERT-S
                ($HF_HUB_CACHE, $HF_HOME/hub, default ~/.cache/huggingface/hub)
    classifier  <L>_model.pth in $VIRNUCPRO_DIR (a clone of upstream), then in
                the current folder

Nothing is ever downloaded: transformers runs with HF_HUB_OFFLINE=1 and
``local_files_only=True``; fair-esm's hub loader is never called.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TaskError

DEMO_MARKER = "demo_models.json"
ESM_AUTO_NAME = "esm2_t36_3B_UR50D"
DNABERT_REPO = "zhihan1996/DNABERT-S"
ESM_ALPHABET_SIZE = 33  # fair-esm's "ESM-1b" alphabet, which every ESM-2 uses
REGRESSION_SUFFIX = "-contact-regression.pt"
REGRESSION_KEYS = {"contact_head.regression.weight", "contact_head.regression.bias"}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")


@dataclass(frozen=True)
class ModelPaths:
    esm: Path
    dnabert: Path
    classifier: Path
    demo: bool = False
    root: Path | None = None  # the --models folder; None for auto


@dataclass(frozen=True)
class EsmInfo:
    layers: int
    embed_dim: int
    heads: int


def offline() -> None:
    """Forbid network access by the Hugging Face stack (before it is imported)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def quiet_transformers() -> None:
    """No progress bars or load reports from transformers in worker logs."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


# -- locating ------------------------------------------------------------------
def locate(models: str | os.PathLike[str], chunk_length: int) -> ModelPaths:
    """Resolve ``--models`` to the three model paths; TaskError naming what is missing."""
    if str(models) == "auto":
        return _locate_auto(chunk_length)
    root = Path(models).expanduser()
    if not root.is_dir():
        raise TaskError(f"--models {root}: no such folder (expected esm/, dnabert/ and classifier.pth)")
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
        raise TaskError("classifier not found: looked for " + " and ".join(map(str, candidates)))
    return ModelPaths(checkpoints[0], dnabert, classifier, (root / DEMO_MARKER).is_file(), root)


def torch_hub_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir())


def _locate_auto(chunk_length: int) -> ModelPaths:
    esm = torch_hub_dir() / "checkpoints" / f"{ESM_AUTO_NAME}.pt"
    if not esm.is_file():
        raise TaskError(f"--models auto: ESM-2 checkpoint {ESM_AUTO_NAME}.pt not found in the torch hub "
                        f"cache (looked for {esm}); give --models DIR")
    dnabert = _hf_snapshot(DNABERT_REPO)
    name = f"{chunk_length}_model.pth"
    places = [Path(os.environ["VIRNUCPRO_DIR"]) if os.environ.get("VIRNUCPRO_DIR") else None, Path.cwd()]
    looked = [p / name for p in places if p is not None]
    classifier = next((p for p in looked if p.is_file()), None)
    if classifier is None:
        raise TaskError(f"--models auto: classifier {name} not found (looked for "
                        f"{' and '.join(map(str, looked))}); set VIRNUCPRO_DIR to upstream's clone "
                        "or give --models DIR")
    return ModelPaths(esm, dnabert, classifier, False, None)


def _hf_snapshot(repo: str) -> Path:
    offline()
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means: not in the cache
        where = Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))
        raise TaskError(f"--models auto: {repo} not found in the Hugging Face cache "
                        f"(looked in {where}); give --models DIR") from None


# -- checking ------------------------------------------------------------------
def _safe_load(path: Path, mmap: bool) -> Any:
    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)


def read_esm_checkpoint(path: Path, mmap: bool = True) -> tuple[dict, EsmInfo]:
    """Load an ESM-2 checkpoint (tensors memory-mapped) and check its architecture."""
    try:
        try:
            data = _safe_load(path, mmap)
        except FileNotFoundError:
            raise
        except Exception:  # noqa: BLE001 - e.g. the legacy (pre-zip) format cannot be mapped
            if not mmap:
                raise
            data = _safe_load(path, False)
    except FileNotFoundError:
        raise TaskError(f"{path}: ESM-2 checkpoint not found") from None
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        first = (str(exc).splitlines() or [""])[0]
        raise TaskError(f"{path}: cannot read as a fair-esm checkpoint: {first}") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise TaskError(f"{path}: not a fair-esm checkpoint (expected a dict with 'model' and 'cfg')")
    state = {_strip_esm_prefix(k): v for k, v in data["model"].items()}
    return state, _esm_info(path, state, data.get("cfg"))


def _strip_esm_prefix(key: str) -> str:
    for prefix in ("encoder.sentence_encoder.", "encoder."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _esm_info(path: Path, state: dict, cfg: Any) -> EsmInfo:
    needed = ("embed_tokens.weight", "emb_layer_norm_after.weight", "layers.0.self_attn.rot_emb.inv_freq")
    missing = [k for k in needed if k not in state]
    if missing:
        raise TaskError(f"{path}: not an ESM-2 model (no {', '.join(missing)}; ESM-1/1b and other "
                        "architectures are not supported)")
    vocab, dim = state["embed_tokens.weight"].shape
    if vocab != ESM_ALPHABET_SIZE:
        raise TaskError(f"{path}: ESM-2 vocabulary of {vocab} tokens, expected {ESM_ALPHABET_SIZE}")
    layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
    model_cfg = cfg.get("model") if isinstance(cfg, dict) else None
    heads = getattr(model_cfg, "encoder_attention_heads", None)
    if heads is None:
        raise TaskError(f"{path}: ESM-2 checkpoint without cfg['model'].encoder_attention_heads")
    cfg_layers = getattr(model_cfg, "encoder_layers", layers)
    cfg_dim = getattr(model_cfg, "encoder_embed_dim", dim)
    if (cfg_layers, cfg_dim) != (layers, dim):
        raise TaskError(f"{path}: cfg says {cfg_layers} layers x {cfg_dim} but the weights have "
                        f"{layers} x {dim}")
    if dim % int(heads):
        raise TaskError(f"{path}: embedding size {dim} not divisible by {heads} attention heads")
    return EsmInfo(layers, int(dim), int(heads))


def dnabert_config(folder: Path) -> dict:
    """config.json of a DNABERT folder, checked to be a BERT with its weights and tokenizer."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"DNABERT-S model not found: no {path}") from None
    except (OSError, ValueError) as exc:
        raise TaskError(f"{path}: cannot read: {exc}") from None
    if not isinstance(config, dict) or config.get("model_type") != "bert":
        kind = config.get("model_type") if isinstance(config, dict) else None
        raise TaskError(f"{path}: model_type {kind!r}, expected 'bert' (DNABERT-S)")
    if not isinstance(config.get("hidden_size"), int):
        raise TaskError(f"{path}: no integer hidden_size")
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise TaskError(f"{folder}: no model weights ({' or '.join(WEIGHT_FILES)})")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise TaskError(f"{folder}: no tokenizer ({', '.join(TOKENIZER_FILES)})")
    _check_bert_weights(folder, config["hidden_size"])
    return config


def _check_bert_weights(folder: Path, hidden: int) -> None:
    """Word embeddings in model.safetensors must have the config's hidden size."""
    path = folder / "model.safetensors"
    if not path.is_file():
        return  # pytorch_model.bin: checked when the worker loads it
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = [k for k in f.keys() if k.endswith("embeddings.word_embeddings.weight")]
            if not keys:
                raise TaskError(f"{path}: no BERT word embeddings (not a BERT model)")
            shape = f.get_slice(keys[0]).get_shape()
    except TaskError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TaskError(f"{path}: cannot read: {exc}") from None
    if shape[-1] != hidden:
        raise TaskError(f"{path}: embeddings of size {shape[-1]}, config.json says {hidden}")


# -- loading (workers) ---------------------------------------------------------
def load_esm(path: Path, device: str) -> tuple[Any, Any, EsmInfo]:
    """(ESM2 model in eval mode on ``device``, its Alphabet, its shape)."""
    import esm
    import torch
    from esm.model.esm2 import ESM2

    state, info = read_esm_checkpoint(path)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    # Built on the meta device, then given the (memory-mapped) checkpoint tensors:
    # no random init of billions of weights, no second copy in host memory.
    with torch.device("meta"):
        model = ESM2(num_layers=info.layers, embed_dim=info.embed_dim, attention_heads=info.heads,
                     alphabet=alphabet, token_dropout=True)
    expected = model.state_dict()
    missing = set(expected) - set(state) - REGRESSION_KEYS
    unexpected = set(state) - set(expected)
    if missing or unexpected:
        detail = f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        raise TaskError(f"{path}: weights do not match fair-esm's ESM2 ({detail})")
    for key in REGRESSION_KEYS - set(state):  # contact head: unused for embeddings
        state[key] = torch.zeros(expected[key].shape, dtype=expected[key].dtype)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise TaskError(f"{path}: weights do not fit the ESM-2 shape in its cfg: "
                        f"{str(exc).splitlines()[-1].strip()}") from None
    del state
    return model.to(device).eval(), alphabet, info


def load_dnabert(folder: Path, device: str) -> tuple[Any, Any, int]:
    """(tokenizer, model in eval mode on ``device``, hidden size), strictly offline.

    A folder whose config.json has an ``auto_map`` (DNABERT-S's own code) is
    loaded with trust_remote_code: that code comes from the local folder or cache.
    """
    config = dnabert_config(folder)
    offline()
    import torch
    from transformers import AutoModel, AutoTokenizer

    quiet_transformers()
    remote = "auto_map" in config
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=remote)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True, trust_remote_code=remote)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds
        first = (str(exc).splitlines() or [""])[0]
        raise TaskError(f"{folder}: cannot load the DNABERT-S model offline: {first}") from None
    # float32 whatever the checkpoint's dtype: CUDA speed comes from autocast
    return tokenizer, model.to(device=device, dtype=torch.float32).eval(), int(config["hidden_size"])
