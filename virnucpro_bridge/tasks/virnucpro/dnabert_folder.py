"""Reading a DNABERT-S folder in the Hugging Face layout, without its code.

    DIR/config.json         BERT config (``auto_map`` and remote code are ignored)
    DIR/tokenizer.json      DNABERT-2's BPE tokenizer, read with ``tokenizers``
    DIR/model.safetensors   weights, preferred when present (as transformers does)
    DIR/pytorch_model.bin   weights, ``torch.load(weights_only=True)``

Weight keys may carry a ``bert.`` prefix (a ``BertForMaskedLM`` checkpoint);
the pooler and masked-LM head are ignored (the embedding never uses them).
Every problem is one :class:`TaskError` line naming the file and what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TaskError
from .dnabert import DnabertConfig, MosaicBert
from .torch_file import check_archive

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # first found wins
PREFIX = "bert."
IGNORED_PREFIXES = ("pooler.", "cls.")  # pooler and masked-LM head: not part of the embedding
IGNORED_KEYS = {"embeddings.position_ids", "embeddings.token_type_ids"}  # buffers some savers keep
PAD_TOKEN = "[PAD]"


class DnaTokenizer:
    """DNABERT-S's tokenizer: sequences -> token ids, [CLS] ... [SEP] as upstream gets them."""

    def __init__(self, tokenizer: Any) -> None:
        # read by tokenizers at each call: batch calls run in the calling thread, on its core
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.tokenizer = tokenizer
        pad = tokenizer.token_to_id(PAD_TOKEN)
        self.pad_id = 0 if pad is None else int(pad)

    def ids(self, sequences: Sequence[str]) -> list[list[int]]:
        """Token ids per sequence. One batch call without offsets (``encode_batch_fast``):
        a third faster than one ``encode`` per sequence, and it releases the GIL, so a
        prefetch thread tokenises while the model runs. TOKENIZERS_PARALLELISM=false
        (unless the user set it): a thread pool over every core would fight the other
        workers for them."""
        if not sequences:
            return []
        encode = getattr(self.tokenizer, "encode_batch_fast", None) or self.tokenizer.encode_batch
        return [e.ids for e in encode(list(sequences))]


@dataclass(frozen=True)
class DnabertFolder:
    """What a checked folder holds: its config, tokenizer and weights file."""

    folder: Path
    config: DnabertConfig
    weights: Path
    tokenizer: DnaTokenizer
    vocab: int  # tokens the tokenizer knows


def read_config(folder: Path) -> DnabertConfig:
    path = folder / CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"DNABERT-S model not found: no {path}") from None
    except (OSError, ValueError) as exc:
        raise TaskError(f"{path}: cannot read as JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("model_type") != "bert":
        kind = data.get("model_type") if isinstance(data, dict) else None
        raise TaskError(f"{path}: model_type {kind!r}, expected 'bert' (DNABERT-S)")
    try:
        return DnabertConfig.from_json(data)
    except ValueError as exc:
        raise TaskError(f"{path}: {exc}") from None


def read_tokenizer(folder: Path) -> DnaTokenizer:
    from tokenizers import Tokenizer

    path = folder / TOKENIZER
    if not path.is_file():
        raise TaskError(f"{folder}: no {TOKENIZER} (DNABERT-S's tokenizer)")
    try:
        return DnaTokenizer(Tokenizer.from_file(str(path)))
    except Exception as exc:  # noqa: BLE001 - the Rust side raises plain Exception
        raise TaskError(f"{path}: cannot read as a tokenizers file: {_first_line(exc)}") from None


def weights_file(folder: Path) -> Path:
    found = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
    if found is None:
        raise TaskError(f"{folder}: no model weights ({' or '.join(WEIGHT_FILES)})")
    return found


def read_weights(path: Path, mmap: bool = True) -> dict[str, Any]:
    """Encoder tensors by key (prefix stripped, pooler/head dropped); tensors stay on CPU."""
    raw: object  # whatever the file holds, until checked below
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(path), device="cpu")
        else:
            check_archive(path, "DNABERT-S weight file")
            raw = _torch_load(path, mmap)
    except TaskError:
        raise
    except Exception as exc:  # noqa: BLE001 - unpickling and format errors come in many types
        raise TaskError(f"{path}: cannot read the weights: {_first_line(exc)}") from None
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: not a state dict (found {type(raw).__name__})")
    state = {}
    for key, value in raw.items():
        key = str(key).removeprefix(PREFIX)
        if key.startswith(IGNORED_PREFIXES) or key in IGNORED_KEYS:
            continue
        if not hasattr(value, "shape"):
            raise TaskError(f"{path}: {key} is a {type(value).__name__}, not a tensor")
        state[key] = value
    return state


def _torch_load(path: Path, mmap: bool) -> Any:
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError:
        if not mmap:
            raise
        # the legacy (pre-zip) format cannot be memory-mapped; a truncated zip fails again below
        return torch.load(str(path), map_location="cpu", weights_only=True)


def check_weights(path: Path, config_path: Path, config: DnabertConfig, state: dict[str, Any]) -> None:
    """The weights must be exactly the encoder ``config`` describes; one line if not."""
    if "embeddings.position_embeddings.weight" in state:
        raise TaskError(f"{path}: a BERT with position embeddings, not DNABERT-S's MosaicBERT "
                        "(ALiBi attention, gated MLP)")
    expected = expected_shapes(config)
    layers = {int(k.split(".")[2]) for k in state if k.startswith("encoder.layer.") and k.split(".")[2].isdigit()}
    if layers and max(layers) + 1 != config.num_hidden_layers:
        raise TaskError(f"{config_path}: num_hidden_layers {config.num_hidden_layers}, but {path.name} "
                        f"has {max(layers) + 1} layers")
    for key, shape in expected.items():
        if key not in state:
            missing = [k for k in expected if k not in state]
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise TaskError(f"{path}: no {key}{more} (not a DNABERT-S / MosaicBERT checkpoint)")
        found = tuple(state[key].shape)
        if found != shape:
            raise TaskError(f"{path}: {key} has shape {list(found)}, but {config_path.name} "
                            f"({_describe(config)}) needs {list(shape)}")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise TaskError(f"{path}: unexpected weights {unexpected[0]}{more} (not DNABERT-S's architecture)")


def expected_shapes(config: DnabertConfig) -> dict[str, tuple[int, ...]]:
    """Every weight of :class:`MosaicBert` for ``config`` and its shape, written out
    rather than read from a model built on the meta device: the main process checks
    folders before any worker starts, and torch's first meta-device op imports
    torch._dynamo (about 1.5 s). A test holds this to the built model's state_dict."""
    h, inter = config.hidden_size, config.intermediate_size
    shapes = {"embeddings.word_embeddings.weight": (config.vocab_size, h),
              "embeddings.token_type_embeddings.weight": (config.type_vocab_size, h),
              "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,)}
    for i in range(config.num_hidden_layers):
        layer = f"encoder.layer.{i}."
        shapes.update({
            layer + "attention.self.Wqkv.weight": (3 * h, h), layer + "attention.self.Wqkv.bias": (3 * h,),
            layer + "attention.output.dense.weight": (h, h), layer + "attention.output.dense.bias": (h,),
            layer + "attention.output.LayerNorm.weight": (h,), layer + "attention.output.LayerNorm.bias": (h,),
            layer + "mlp.gated_layers.weight": (2 * inter, h),
            layer + "mlp.wo.weight": (h, inter), layer + "mlp.wo.bias": (h,),
            layer + "mlp.layernorm.weight": (h,), layer + "mlp.layernorm.bias": (h,),
        })
    return shapes


def _describe(c: DnabertConfig) -> str:
    return (f"vocab {c.vocab_size}, hidden {c.hidden_size}, {c.num_hidden_layers} layers, "
            f"intermediate {c.intermediate_size}")


def inspect(folder: Path, weights: bool = True) -> DnabertFolder:
    """Check a folder without building the model (main process): config, tokenizer,
    and, with ``weights``, every weight's key and shape (memory-mapped, not read)."""
    config = read_config(folder)
    tokenizer = read_tokenizer(folder)
    vocab = tokenizer.tokenizer.get_vocab_size(with_added_tokens=True)
    if vocab > config.vocab_size:
        raise TaskError(f"{folder / TOKENIZER}: {vocab} tokens, but {CONFIG} says vocab_size "
                        f"{config.vocab_size}")
    path = weights_file(folder)
    if weights:
        check_weights(path, folder / CONFIG, config, read_weights(path))
    return DnabertFolder(folder, config, path, tokenizer, vocab)


def load(folder: Path, device: str, dtype: Any = None, kernel: str = "sdpa") -> tuple[DnaTokenizer, MosaicBert]:
    """(tokenizer, encoder in eval mode on ``device``), weights cast to ``dtype`` (float32 if None)."""
    import torch

    info = inspect(folder, weights=False)
    state = read_weights(info.weights)
    check_weights(info.weights, folder / CONFIG, info.config, state)
    with torch.device("meta"):  # no random init; the checkpoint's tensors are assigned below
        model = MosaicBert(info.config, kernel)
    target = dtype or torch.float32
    state = {k: v.to(dtype=target) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return info.tokenizer, model.to(device).eval()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
