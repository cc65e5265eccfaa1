"""DNABERT-S's own code (``shared/ref/dnabert_s``), imported for the equivalence tests only.

The project never runs this code; the tests import it to compare against. It
needs transformers 4.40-4.57 and einops (the test extra), and when ``triton``
imports it sends every forward to its Triton kernel, so ``reference_model``
switches it to its PyTorch path (what the original does without triton).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from virnucpro_bridge.tasks.virnucpro.dnabert_hf import write_dnabert

REPO = Path(__file__).resolve().parents[2]
ENV = "LBTUI_DNABERT_REF_DIR"
CODE_FILES = ("bert_layers.py", "bert_padding.py", "configuration_bert.py", "flash_attn_triton.py")
PACKAGE = "dnabert_s_reference"  # the folder has relative imports: load it as a package of this name


def find() -> Path:
    """``$LBTUI_DNABERT_REF_DIR``, else ``shared/ref/dnabert_s`` beside the checkout or inside it."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    candidates = [REPO.parent / "shared" / "ref" / "dnabert_s", REPO / "shared" / "ref" / "dnabert_s"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


class Unavailable(Exception):
    """The reference code cannot be used here (the reason is the message)."""


def load_folder() -> Path:
    where = find()
    if not (where / "bert_layers.py").is_file():
        raise Unavailable(f"DNABERT-S reference code not found at {where}; set {ENV} to its folder")
    return where


def load_modules() -> tuple[Any, Any]:
    """(bert_layers, configuration_bert) of the reference, PyTorch attention forced."""
    where = load_folder()
    try:
        import einops  # noqa: F401
        import transformers
    except ImportError as exc:
        raise Unavailable(f"the DNABERT-S reference code needs transformers and einops (test extra): {exc}") from exc
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    if not (4, 40) <= (major, minor) < (4, 58):
        raise Unavailable(f"the DNABERT-S reference code loads on transformers 4.40-4.57, "
                          f"not {transformers.__version__}")
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(where)]
        sys.modules[PACKAGE] = package
    layers = importlib.import_module(f"{PACKAGE}.bert_layers")
    layers.flash_attn_qkvpacked_func = None  # its PyTorch path: the Triton kernel fails on CPU and current triton
    return layers, importlib.import_module(f"{PACKAGE}.configuration_bert")


def folder() -> Path:
    """The reference folder; the test is skipped, saying why, when it cannot be used."""
    try:
        return load_folder()
    except Unavailable as exc:
        pytest.skip(str(exc))


def modules() -> tuple[Any, Any]:
    try:
        return load_modules()
    except Unavailable as exc:
        pytest.skip(str(exc))


def config_json() -> dict[str, Any]:
    return json.loads((folder() / "config.json").read_text())


def reference_model(config: dict[str, Any], state: dict[str, Any], *, skip: bool = True) -> Any:
    """The reference ``BertModel`` (pooler included, as AutoModel builds it) with ``state``;
    unusable reference code skips the test (``skip``) or raises :class:`Unavailable`."""
    import warnings

    layers, configuration = modules() if skip else load_modules()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unable to import Triton": expected, we chose its PyTorch path
        model = layers.BertModel(configuration.BertConfig(**config))
    model.load_state_dict(state, strict=True)
    return model.eval()


def real_layout(dest: Path, *, hidden: int, layers: int, heads: int, intermediate: int,
                weights: str = "pytorch_model.bin", prefix: str = "", seed: int = 0) -> Path:
    """A folder as the Hugging Face cache holds DNABERT-S: its code, auto_map, real tokenizer; random weights."""
    source = folder()
    write_dnabert(dest, hidden=hidden, layers=layers, heads=heads, intermediate=intermediate, seed=seed,
                  tokenizer=source / "tokenizer.json", weights=weights, prefix=prefix,
                  extra_config={"auto_map": config_json()["auto_map"]})
    for name in (*CODE_FILES, "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(source / name, dest / name)
    return dest
