"""``lbtui models init-demo``: small random-weight models in the real layouts.

* ESM-2 built with fair-esm's own ``ESM2`` class, in fair-esm's checkpoint format
  (plus a ``-contact-regression.pt`` beside it): fair-esm's
  ``load_model_and_alphabet_local`` would load it as well as we do;
* DNABERT-S as its Hugging Face repository lays it out (dnabert_hf.py): config.json,
  DNABERT-2's tokenizer files and ``pytorch_model.bin`` with the real keys;
* the upstream MLP classifier as a state dict, with non-trivial BatchNorm statistics.

``demo_models.json`` marks the folder: every run on it says plainly that its
predictions are meaningless. Weights come from a fixed seed (the same bytes each
time: demo results are reproducible). The folder is written beside its
destination and moved into place, so a failed init-demo leaves the old folder or
none, never half of one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import TaskError
from .dnabert_hf import write_dnabert
from .esm_checkpoint import REGRESSION_SUFFIX
from .models import DEMO_MARKER

ESM_NAME = "esm2_t2_demo"


@dataclass(frozen=True)
class DemoSpec:
    esm_layers: int = 2
    esm_dim: int = 32
    esm_heads: int = 4
    bert_layers: int = 2
    bert_hidden: int = 32
    bert_heads: int = 4
    bert_intermediate: int = 64
    classifier_hidden: int = 16
    seed: int = 0


def init_demo(folder: str | Path, spec: DemoSpec = DemoSpec()) -> Path:
    """Write demo models into ``folder`` (replacing earlier demo models there); return it."""
    import torch

    root = Path(folder)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and not (root / DEMO_MARKER).is_file())):
        raise TaskError(f"{root}: exists and does not hold demo models; give a new or empty folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; a models folder is not
    try:
        torch.manual_seed(spec.seed)
        write_esm(staging / "esm", spec)
        write_dnabert(staging / "dnabert", hidden=spec.bert_hidden, layers=spec.bert_layers,
                      heads=spec.bert_heads, intermediate=spec.bert_intermediate, seed=spec.seed)
        write_classifier(staging / "classifier.pth", spec.bert_hidden + spec.esm_dim, spec.classifier_hidden)
        marker = {"demo": True, "note": "random weights: predictions are meaningless", **asdict(spec)}
        (staging / DEMO_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if root.exists():  # earlier demo models: set aside, then removed once the new ones are in place
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old.", dir=root.parent))
            root.rename(old / root.name)
            staging.rename(root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_esm(folder: Path, spec: DemoSpec) -> Path:
    import torch
    from esm.model.esm2 import ESM2

    model = ESM2(num_layers=spec.esm_layers, embed_dim=spec.esm_dim,
                 attention_heads=spec.esm_heads, alphabet="ESM-1b", token_dropout=True)
    state = model.state_dict()
    regression = {k: state.pop(k) for k in list(state) if k.startswith("contact_head.regression.")}
    cfg = argparse.Namespace(encoder_layers=spec.esm_layers, encoder_embed_dim=spec.esm_dim,
                             encoder_attention_heads=spec.esm_heads, token_dropout=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ESM_NAME}.pt"
    torch.save({"model": {f"encoder.sentence_encoder.{k}": v for k, v in state.items()},
                "cfg": {"model": cfg}}, path)
    torch.save({"model": regression}, folder / f"{ESM_NAME}{REGRESSION_SUFFIX}")
    return path


def write_classifier(path: Path, input_dim: int, hidden: int) -> Path:
    import torch

    from .classifier import MLPClassifier

    model = MLPClassifier(input_dim, hidden, 2)
    with torch.no_grad():  # running statistics that make eval mode matter
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    torch.save(model.state_dict(), path)
    return path
