"""fair-esm ESM-2 checkpoints: reading and checking them safely, loading the model.

A checkpoint is ``{"model": {"encoder.sentence_encoder.<key>": tensor}, "cfg":
{"model": Namespace(...)}}`` (fair-esm's own format), with the contact-regression
weights optionally in a ``-contact-regression.pt`` beside it. It is read with
``torch.load(weights_only=True)`` (argparse.Namespace allowed), memory-mapped.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TaskError
from .torch_file import check_archive

ESM_ALPHABET_SIZE = 33  # fair-esm's "ESM-1b" alphabet, which every ESM-2 uses
REGRESSION_SUFFIX = "-contact-regression.pt"
REGRESSION_KEYS = {"contact_head.regression.weight", "contact_head.regression.bias"}


@dataclass(frozen=True)
class EsmInfo:
    layers: int
    embed_dim: int
    heads: int


def _safe_load(path: Path, mmap: bool) -> Any:
    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)


def read_esm_checkpoint(path: Path, mmap: bool = True) -> tuple[dict[str, Any], EsmInfo]:
    """Load an ESM-2 checkpoint (tensors memory-mapped) and check its architecture."""
    check_archive(path, "ESM-2 checkpoint")
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


def _esm_info(path: Path, state: dict[str, Any], cfg: Any) -> EsmInfo:
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


def _meta_model(info: EsmInfo) -> Any:
    """fair-esm's ESM2 of ``info``'s shape on the meta device (no memory, no random init)."""
    import esm
    import torch
    from esm.model.esm2 import ESM2

    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    with torch.device("meta"):
        return ESM2(num_layers=info.layers, embed_dim=info.embed_dim, attention_heads=info.heads,
                    alphabet=alphabet, token_dropout=True)


def esm2_shapes(info: EsmInfo) -> dict[str, tuple[int, ...]]:
    """Every weight and buffer in the state_dict of fair-esm's ESM2 of ``info``'s shape,
    written out rather than read from a model built on the meta device: the main
    process checks checkpoints before any worker starts, and torch's first meta-device
    op imports torch._dynamo (about 1.5 s). A test holds this to fair-esm's own model."""
    d, vocab = info.embed_dim, ESM_ALPHABET_SIZE
    shapes: dict[str, tuple[int, ...]] = {"embed_tokens.weight": (vocab, d)}
    for i in range(info.layers):
        layer = f"layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            shapes.update({f"{layer}self_attn.{proj}.weight": (d, d), f"{layer}self_attn.{proj}.bias": (d,)})
        shapes[layer + "self_attn.rot_emb.inv_freq"] = ((d // info.heads + 1) // 2,)
        shapes.update({
            layer + "self_attn_layer_norm.weight": (d,), layer + "self_attn_layer_norm.bias": (d,),
            layer + "fc1.weight": (4 * d, d), layer + "fc1.bias": (4 * d,),
            layer + "fc2.weight": (d, 4 * d), layer + "fc2.bias": (d,),
            layer + "final_layer_norm.weight": (d,), layer + "final_layer_norm.bias": (d,),
        })
    shapes.update({
        "contact_head.regression.weight": (1, info.layers * info.heads), "contact_head.regression.bias": (1,),
        "emb_layer_norm_after.weight": (d,), "emb_layer_norm_after.bias": (d,),
        "lm_head.weight": (vocab, d), "lm_head.bias": (vocab,),
        "lm_head.dense.weight": (d, d), "lm_head.dense.bias": (d,),
        "lm_head.layer_norm.weight": (d,), "lm_head.layer_norm.bias": (d,),
    })
    return shapes


def check_esm_weights(path: Path, state: dict[str, Any], info: EsmInfo) -> None:
    """Every weight fair-esm's ESM2 of this shape needs, with its shape; one line if not."""
    expected = esm2_shapes(info)
    missing = sorted(set(expected) - set(state) - REGRESSION_KEYS)
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise TaskError(f"{path}: weights do not match fair-esm's ESM2 ({detail})")
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            raise TaskError(f"{path}: {key} has shape {list(state[key].shape)}, but its cfg "
                            f"({info.layers} layers x {info.embed_dim}, {info.heads} heads) needs {list(shape)}")


def load_esm(path: Path, device: str, dtype: Any = None) -> tuple[Any, Any, EsmInfo]:
    """(ESM2 model in eval mode on ``device``, its Alphabet, its shape); weights in
    ``dtype`` (float32 when None)."""
    import torch

    state, info = read_esm_checkpoint(path)
    check_esm_weights(path, state, info)
    # Built on the meta device, then given the (memory-mapped) checkpoint tensors:
    # no random init of billions of weights, no second copy in host memory.
    model = _meta_model(info)
    expected = model.state_dict()
    for key in REGRESSION_KEYS - set(state):  # contact head: unused for embeddings
        state[key] = torch.zeros(expected[key].shape, dtype=expected[key].dtype)
    model.load_state_dict(state, strict=True, assign=True)
    del state
    # one conversion straight to the device: a CUDA device never holds a float32 copy
    return model.to(device=device, dtype=dtype or torch.float32).eval(), model.alphabet, info
