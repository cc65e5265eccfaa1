"""The three models on one device, and one test sequence through each.

Worker ``setup`` (on its own device) and ``lbtui models check`` (on CPU) both
call :func:`load_pipeline` then :func:`smoke`, so a folder the check passes
is one the workers load. Any failure is one :class:`TaskError` line naming
the model's file and what is wrong.

Which forward runs where (chosen by measurement, docs/models.md):

    device   ESM-2                          DNABERT-S attention
    CPU      fair-esm's own forward         "matmul" (DNABERT-S's own operations)
    CUDA     esm_forward.EsmSdpa (SDPA)     "sdpa"
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import TaskError
from .budget import TokenBudget, device_memory, starting_budget
from .embeddings import NucleotideEmbedder, ProteinEmbedder
from .models import ModelPaths

CPU_TOKS_PER_BATCH = 2048  # CPU embeds one sequence at a time; this only sizes the batched path's tests
SMOKE_DNA = "ATGAAAGCGATTCTGGTGCTGGGCGCGACCGGCTTTATTGGCAGCCATCTGGTGGAACGC"  # 60 bp, a coding start
SMOKE_PROTEIN = "MKAILVLGATGFIGSHLVER"  # its translation


@dataclass(frozen=True)
class ModelReport:
    """What ``models check`` prints about one model."""

    name: str  # "ESM-2", "DNABERT-S", "classifier"
    path: Path
    layout: str  # what kind of file or folder it was read from, and its shape
    parameters: int
    output: str  # "embedding 2560", "2 classes"


@dataclass
class Pipeline:
    device: str
    dtype: Any
    protein: ProteinEmbedder
    nucleotide: NucleotideEmbedder
    classifier: Any
    reports: list[ModelReport] = field(default_factory=list)

    def budget_notes(self) -> dict[str, str]:
        return {"ESM-2 batch": self.protein.budget.describe(),
                "DNABERT batch": self.nucleotide.budget.describe()}


def _guarded(name: str, path: Path, device: str, step: Callable[[], Any]) -> Any:
    """Run a load step; anything but a TaskError becomes one line naming ``path``."""
    import torch

    try:
        return step()
    except TaskError:
        raise
    except torch.cuda.OutOfMemoryError:
        raise TaskError(f"{path}: out of memory loading {name} on {device_memory(device)}") from None
    except Exception as exc:  # noqa: BLE001 - whatever the loaders raise, said in one line
        raise TaskError(f"{path}: cannot load {name}: {type(exc).__name__}: {_first_line(exc)}") from None


def load_pipeline(paths: ModelPaths, device: str, dtype: Any = None,
                  toks_per_batch: int | None = None) -> Pipeline:
    """Load ESM-2, DNABERT-S and the classifier onto ``device``; weights in ``dtype``
    (None: float32). The token budget is ``toks_per_batch``, else from free GPU memory."""
    from .classifier import load_classifier
    from .dnabert_folder import load as load_dnabert
    from .esm_checkpoint import load_esm
    from .esm_forward import EsmSdpa, reference_forward

    cuda = device.startswith("cuda")
    esm_model, alphabet, info = _guarded("ESM-2", paths.esm, device, lambda: load_esm(paths.esm, device, dtype))
    forward = EsmSdpa(esm_model) if cuda else reference_forward(esm_model)
    kernel = "sdpa" if cuda else "matmul"
    tokenizer, bert = _guarded("DNABERT-S", paths.dnabert, device,
                               lambda: load_dnabert(paths.dnabert, device, dtype, kernel))
    classifier = _guarded("the classifier", paths.classifier, device,
                          lambda: load_classifier(paths.classifier, device))
    hidden = bert.config.hidden_size
    if classifier.input_dim != hidden + info.embed_dim:
        raise TaskError(f"{paths.classifier}: classifier takes {classifier.input_dim} inputs but the "
                        f"embeddings give {hidden} (DNABERT-S) + {info.embed_dim} (ESM-2)")
    tokens = toks_per_batch or _auto_budget(device, dtype, max(hidden, info.embed_dim))
    pipeline = Pipeline(
        device, dtype,
        ProteinEmbedder(forward, alphabet, info.embed_dim, device, TokenBudget(tokens), dtype),
        NucleotideEmbedder(tokenizer, bert, device, TokenBudget(tokens), dtype),
        classifier)
    pipeline.reports = [
        ModelReport("ESM-2", paths.esm, f"fair-esm checkpoint, {info.layers} layers x {info.embed_dim}, "
                    f"{info.heads} heads", _count(esm_model), f"embedding {info.embed_dim}"),
        ModelReport("DNABERT-S", paths.dnabert, _dnabert_layout(paths.dnabert, bert.config),
                    _count(bert), f"embedding {hidden}"),
        ModelReport("classifier", paths.classifier, f"MLP {classifier.input_dim} -> "
                    f"{classifier.hidden_layer.out_features} -> 2", _count(classifier), "2 classes"),
    ]
    return pipeline


def _auto_budget(device: str, dtype: Any, hidden: int) -> int:
    import torch

    if not device.startswith("cuda"):
        return CPU_TOKS_PER_BATCH
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return starting_budget(free, hidden, 4 if dtype is None else torch.finfo(dtype).bits // 8)


def _dnabert_layout(folder: Path, config: Any) -> str:
    from .dnabert_folder import weights_file

    return (f"Hugging Face folder (config.json, tokenizer.json, {weights_file(folder).name}), "
            f"{config.num_hidden_layers} layers x {config.hidden_size}, {config.num_attention_heads} heads")


def _count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def smoke(pipeline: Pipeline) -> float:
    """One short sequence through each model on the pipeline's device; seconds taken.
    TaskError (one line, naming the model's file) when a model fails or gives non-finite numbers."""
    import torch

    from .classifier import classify

    started = time.perf_counter()
    paths = {r.name: r.path for r in pipeline.reports}
    nucleotide = _smoke_step("DNABERT-S", paths["DNABERT-S"], pipeline.device,
                             lambda: pipeline.nucleotide([SMOKE_DNA]))
    protein = _smoke_step("ESM-2", paths["ESM-2"], pipeline.device, lambda: pipeline.protein([SMOKE_PROTEIN]))
    probs = _smoke_step("the classifier", paths["classifier"], pipeline.device,
                        lambda: classify(pipeline.classifier, torch.cat([nucleotide, protein], dim=1)))
    if not math.isclose(float(probs.sum()), 1.0, abs_tol=1e-3):
        raise TaskError(f"{paths['classifier']}: the classifier's probabilities do not sum to 1")
    return time.perf_counter() - started


def _smoke_step(name: str, path: Path, device: str, step: Callable[[], Any]) -> Any:
    import torch

    from .budget import is_out_of_memory
    from .embeddings import NonFinite

    non_finite = TaskError(f"{path}: {name} gives NaN or infinite values on a test sequence (damaged weights?)")
    try:
        out = step()
    except NonFinite:
        raise non_finite from None
    except Exception as exc:  # noqa: BLE001 - any failure of a model is reported the same way
        if not is_out_of_memory(exc):
            raise TaskError(f"{path}: {name} failed on a test sequence: {type(exc).__name__}: "
                            f"{_first_line(exc)}") from None
        raise TaskError(f"{path}: out of memory running {name} on one short sequence on "
                        f"{device_memory(device)}") from None
    if not bool(torch.isfinite(out).all()):
        raise non_finite
    return out


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""
