"""Upstream VirNucPro's MLP classifier, and loading it safely from either format.

Upstream saves the whole module (``torch.save(model)``, files ``300_model.pth``
and ``500_model.pth``), so its pickle names upstream's class (``__main__.
MLPClassifier``: it was trained by running ``train.py``). We never unpickle
arbitrary code: ``torch.load(weights_only=True)`` with that one class name
mapped onto a bare stand-in, then only the state dict is kept and loaded into
:class:`MLPClassifier` here. A plain state dict loads the same way.

    Linear(in, hidden) -> BatchNorm1d -> ReLU -> Dropout(0.5) -> Linear(hidden, 2)
    softmax: column 0 = others (score1), column 1 = virus (score2)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...errors import TaskError
from .torch_file import check_archive

# Where upstream's class may have lived when the model was pickled.
UPSTREAM_CLASS_PATHS = ("__main__", "prediction", "train", "units", "__mp_main__")
STATE_KEYS = {
    "hidden_layer.weight", "hidden_layer.bias", "bn1.weight", "bn1.bias", "bn1.running_mean",
    "bn1.running_var", "output_layer.weight", "output_layer.bias",
}
BATCH_ROWS = 256  # fixed batch shape: a row's scores never depend on its neighbours


class MLPClassifier(nn.Module):
    """Same attribute names as upstream, so state dict keys match."""

    def __init__(self, input_dim: int, hidden_dim: int, num_class: int = 2) -> None:
        super().__init__()
        self.hidden_layer = nn.Linear(input_dim, hidden_dim)
        self.bn1 = nn.BatchNorm1d(hidden_dim)
        self.output_layer = nn.Linear(hidden_dim, num_class)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.hidden_layer(x)))
        scores: torch.Tensor = self.output_layer(self.dropout(x))
        return scores

    @property
    def input_dim(self) -> int:
        return self.hidden_layer.in_features


class _PickledModule(nn.Module):
    """Stand-in for upstream's class while unpickling: only its state is read."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - never called
        raise NotImplementedError


def _safe_globals() -> list[Any]:
    mapped: list[Any] = [(_PickledModule, f"{mod}.MLPClassifier") for mod in UPSTREAM_CLASS_PATHS]
    return mapped + [nn.Linear, nn.BatchNorm1d, nn.Dropout, nn.ReLU, OrderedDict, set]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The classifier's state dict from a state dict file or upstream's pickled module."""
    name = str(path)
    check_archive(Path(path), "classifier")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            obj = torch.load(name, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TaskError(f"{name}: classifier not found") from None
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        detail = str(exc).splitlines()
        why = next((line.strip() for line in detail if "Unsupported global" in line), detail[0] if detail else "")
        raise TaskError(f"{name}: not a VirNucPro classifier (state dict or upstream "
                        f"MLPClassifier .pth): {why}") from None
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise TaskError(f"{name}: not a VirNucPro classifier (expected a state dict or an "
                        f"upstream MLPClassifier module, found {type(obj).__name__})")
    state = {str(k).removeprefix("module."): v for k, v in obj.items()}
    missing = sorted(STATE_KEYS - state.keys())
    if missing:
        raise TaskError(f"{name}: not the VirNucPro MLP classifier architecture "
                        f"(missing {', '.join(missing)})")
    return state


def shape_of(state: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    """(input, hidden, classes) sizes of a classifier state dict."""
    hidden, inputs = state["hidden_layer.weight"].shape
    classes = state["output_layer.weight"].shape[0]
    return int(inputs), int(hidden), int(classes)


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> MLPClassifier:
    """Build :class:`MLPClassifier` from ``path`` in eval mode (BatchNorm uses running stats)."""
    state = read_state_dict(path)
    inputs, hidden, classes = shape_of(state)
    if classes != 2:
        raise TaskError(f"{path}: classifier has {classes} outputs, expected 2 (others, virus)")
    model = MLPClassifier(inputs, hidden, classes)
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise TaskError(f"{path}: classifier weights do not fit its architecture: "
                        f"{str(exc).splitlines()[-1].strip()}") from None
    return model.to(device).eval()


@torch.inference_mode()
def classify(model: MLPClassifier, features: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities (float32, CPU) for ``features`` (n, input_dim).

    Rows go through in zero-padded batches of exactly ``BATCH_ROWS``, so the
    matrix shapes, and with them the bits of every row's result, are the same
    whatever else is in the unit.
    """
    device = next(model.parameters()).device
    out = torch.empty((features.shape[0], 2), dtype=torch.float32)
    for i in range(0, features.shape[0], BATCH_ROWS):
        rows = features[i:i + BATCH_ROWS]
        batch = torch.zeros((BATCH_ROWS, features.shape[1]), dtype=torch.float32, device=device)
        batch[: rows.shape[0]] = rows.to(device=device, dtype=torch.float32)
        probs = F.softmax(model(batch), dim=1)
        out[i:i + rows.shape[0]] = probs[: rows.shape[0]].cpu()
    return out
