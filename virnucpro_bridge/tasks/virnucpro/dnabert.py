"""DNABERT-S's encoder (MosaicBERT), written here so no model folder's code ever runs.

The architecture of DNABERT-S's own ``bert_layers.py``, with its state dict keys
(``embeddings.*``, ``encoder.layer.N.*``)::

    ids ─► word + token-type(0) embedding ─► LayerNorm
        ─► N x [ Wqkv ─► attention (ALiBi bias, no position embeddings) ─► dense ─► LayerNorm(+ residual)
                 gated_layers ─► GELU(first half) * second half ─► wo ─► LayerNorm(+ residual) ]
        ─► last hidden state (batch, tokens, hidden); padded positions are zero

Linear layers run on the real tokens only (padding packed out, as the original
does); attention runs on the padded batch with ALiBi and the padding mask as one
additive mask, built once per batch. Layer norms (so the residual stream) stay
float32 under fp16/bf16 weights (precision.py). Attention is ``"sdpa"`` (fused
kernels on CUDA) or ``"matmul"`` (the reference's own operations: on CPU its
embeddings bit for bit); docs/models.md says which runs where.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

ATTENTION_KERNELS = ("sdpa", "matmul")
MASKED_BIAS = -10000.0  # what the original adds for a padded key: exp() of it is 0 in every float type


@dataclass(frozen=True)
class DnabertConfig:
    """The config.json fields the encoder's shape depends on."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DnabertConfig:
        """Build from config.json's dict; ValueError naming the first bad field."""
        values: dict[str, Any] = {}
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "type_vocab_size"):
            value = data.get(name, cls.__dataclass_fields__[name].default)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer (found {value!r})")
            values[name] = value
        eps = data.get("layer_norm_eps", 1e-12)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
            raise ValueError(f"layer_norm_eps must be a positive number (found {eps!r})")
        config = cls(**values, layer_norm_eps=float(eps))
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size {config.hidden_size} is not a multiple of "
                             f"num_attention_heads {config.num_attention_heads}")
        return config

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


def alibi_slopes(heads: int) -> list[float]:
    """ALiBi's per-head slopes: a geometric series starting at 2^(-8/n) for n
    a power of two; otherwise the nearest lower power's series, then every
    other slope of the next power's series (MosaicBERT's rule)."""

    def series(n: int) -> list[float]:
        first = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [first * first**i for i in range(n)]

    if math.log2(heads).is_integer():
        return series(heads)
    lower = 2 ** math.floor(math.log2(heads))
    return series(lower) + alibi_slopes(2 * lower)[0::2][: heads - lower]


def alibi_bias(heads: int, size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(1, heads, size, size) float32: -slope x |i - j|, symmetric (a bidirectional encoder)."""
    positions = torch.arange(size, device=device)
    distance = (positions[None, :] - positions[:, None]).abs()
    slopes = torch.tensor(alibi_slopes(heads), dtype=torch.float32, device=device)
    return (slopes[:, None, None] * -distance).unsqueeze(0)


def layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """``norm`` in float32 whatever its weights' dtype: with fp16/bf16 weights the
    residual stream stays float32 (CUDA autocast would do so; CPU autocast would not)."""
    return F.layer_norm(x.float(), norm.normalized_shape, norm.weight.float(), norm.bias.float(), norm.eps)


class _Embeddings(nn.Module):
    def __init__(self, c: DnabertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # every token is of type 0 (upstream passes input_ids alone)
        summed = self.word_embeddings(ids).float() + self.token_type_embeddings.weight[0].float()
        return layer_norm(self.LayerNorm, summed)


class _Projection(nn.Module):
    """Holds ``Wqkv`` under the checkpoint's name ``attention.self``."""

    def __init__(self, c: DnabertConfig) -> None:
        super().__init__()
        self.Wqkv = nn.Linear(c.hidden_size, 3 * c.hidden_size)


class _AttentionOutput(nn.Module):
    def __init__(self, c: DnabertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)


class _Attention(nn.Module):
    self: _Projection  # registered under the checkpoints' key "self" (add_module below)

    def __init__(self, c: DnabertConfig) -> None:
        super().__init__()
        self.add_module("self", _Projection(c))
        self.output = _AttentionOutput(c)
        self.heads, self.head_dim = c.num_attention_heads, c.head_dim

    def forward(self, x: torch.Tensor, batch: _Batch, kernel: str) -> torch.Tensor:
        qkv = batch.pad(self.self.Wqkv(x))  # (b, s, 3 * hidden)
        b, s, _ = qkv.shape
        q, k, v = qkv.view(b, s, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        bias = batch.bias_as(q.dtype)
        if kernel == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
            out = torch.matmul(F.softmax(scores, dim=-1), v)
        out = batch.pack(out.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))
        return layer_norm(self.output.LayerNorm, self.output.dense(out) + x)


class _GatedMlp(nn.Module):
    def __init__(self, c: DnabertConfig) -> None:
        super().__init__()
        self.gated_layers = nn.Linear(c.hidden_size, 2 * c.intermediate_size, bias=False)
        self.wo = nn.Linear(c.intermediate_size, c.hidden_size)
        self.layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.split = c.intermediate_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gated_layers(x)
        h = F.gelu(h[:, : self.split]) * h[:, self.split:]
        return layer_norm(self.layernorm, self.wo(h) + x)


class _Layer(nn.Module):
    def __init__(self, c: DnabertConfig) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.mlp = _GatedMlp(c)


class _Encoder(nn.Module):
    def __init__(self, c: DnabertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class _Batch:
    """Where a batch's real tokens sit: pack (b, s, ...) -> (real, ...) and back,
    and the additive attention bias (ALiBi + padded keys) for its width."""

    def __init__(self, mask: torch.Tensor | None, shape: tuple[int, int], alibi: torch.Tensor) -> None:
        self.shape = shape
        b, s = shape
        self.bias = alibi
        self.index: torch.Tensor | None = None
        if mask is not None and not bool(mask.all()):
            self.index = mask.reshape(-1).nonzero().squeeze(1)
            self.bias = self.bias + torch.zeros(b, 1, 1, s, device=alibi.device).masked_fill(
                ~mask[:, None, None, :], MASKED_BIAS)
        self._cast: dict[torch.dtype, torch.Tensor] = {}

    def bias_as(self, dtype: torch.dtype) -> torch.Tensor:
        """The bias in ``dtype``, cast on the first layer's call and kept for the others."""
        if dtype == self.bias.dtype:
            return self.bias
        if dtype not in self._cast:
            self._cast[dtype] = self.bias.to(dtype)
        return self._cast[dtype]

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        return flat if self.index is None else flat.index_select(0, self.index)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        b, s = self.shape
        if self.index is None:
            return x.view(b, s, x.shape[-1])
        out = x.new_zeros(b * s, x.shape[-1])
        out.index_copy_(0, self.index, x)
        return out.view(b, s, x.shape[-1])


class MosaicBert(nn.Module):
    """DNABERT-S's encoder; ``forward`` returns the last hidden state."""

    def __init__(self, config: DnabertConfig, kernel: str = "sdpa") -> None:
        super().__init__()
        if kernel not in ATTENTION_KERNELS:
            raise ValueError(f"attention kernel {kernel!r}: expected one of {ATTENTION_KERNELS}")
        self.config = config
        self.kernel = kernel
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, tokens) ids, optional 1/0 mask -> (batch, tokens, hidden); padding rows zero."""
        mask = None if attention_mask is None else attention_mask.to(torch.bool)
        # once per batch (a few small kernels; kept per width it cost memory for nothing)
        alibi = alibi_bias(self.config.num_attention_heads, input_ids.shape[1], input_ids.device)
        b, s = input_ids.shape
        batch = _Batch(mask, (b, s), alibi)
        x = batch.pack(self.embeddings(input_ids))
        for layer in cast("Iterable[_Layer]", self.encoder.layer):  # ModuleList is not generic
            x = layer.mlp(layer.attention(x, batch, self.kernel))
        return batch.pad(x)
