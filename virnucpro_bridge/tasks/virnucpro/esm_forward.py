"""ESM-2's forward pass with ``scaled_dot_product_attention``, on fair-esm's own weights.

fair-esm's ``ESM2.forward`` stays the reference. This one runs the same
network over the same module (its ``embed_tokens``, ``layers`` and
``emb_layer_norm_after``), returning only the last layer's representation:

    tokens ─► embed (token-dropout scaling, padding zeroed) ─► N x pre-LN layer:
        x + out_proj(SDPA(rotary(q), rotary(k), v, key padding mask))
        x + fc2(gelu(fc1(LN(x))))
    ─► emb_layer_norm_after ─► (batch, tokens, embed_dim)

Why: SDPA reaches fused kernels on CUDA; fair-esm's attention materialises
every (tokens x tokens) score matrix and also averages the attention
weights over heads and runs the LM head on every call, both unused here.
Rotary tables are computed in float32 whatever the weights' dtype (in
bfloat16 fair-esm's own table rounds positions above 256), and the residual
stream stays float32 when the weights are stored in fp16/bf16.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

MASK_RATIO_TRAIN = 0.15 * 0.8  # ESM-2's token-dropout constant (fair-esm)
ROTARY_BASE = 10000.0


def layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """``norm`` applied in float32 whatever its weights' dtype (autocast does this on CUDA
    only; on CPU a float32 input with half weights is an error)."""
    weight = None if norm.weight is None else norm.weight.float()
    bias = None if norm.bias is None else norm.bias.float()
    return F.layer_norm(x.float(), norm.normalized_shape, weight, bias, norm.eps)


class EsmSdpa(nn.Module):
    """Wraps a fair-esm ``ESM2`` (shares its parameters); ``forward(tokens)`` -> last representation."""

    def __init__(self, esm2: Any) -> None:
        super().__init__()
        self.esm = esm2
        self.heads = int(esm2.attention_heads)
        self.head_dim = int(esm2.embed_dim) // self.heads
        self.num_layers, self.embed_dim = int(esm2.num_layers), int(esm2.embed_dim)
        self._rotary: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def rotary(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 (cos, sin) tables, (length, head_dim), cached per length and device."""
        key = (length, str(device))
        if key not in self._rotary:
            inv_freq = 1.0 / ROTARY_BASE ** (torch.arange(0, self.head_dim, 2, device=device,
                                                          dtype=torch.float32) / self.head_dim)
            angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
            angles = torch.cat((angles, angles), dim=-1)
            if len(self._rotary) > 64:  # lengths vary per batch: bound the cache
                self._rotary.clear()
            self._rotary[key] = (angles.cos(), angles.sin())
        return self._rotary[key]

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        half = xf.shape[-1] // 2
        turned = torch.cat((-xf[..., half:], xf[..., :half]), dim=-1)
        return (xf * cos + turned * sin).to(x.dtype)

    def _attention(self, attn: Any, h: torch.Tensor, mask: torch.Tensor | None,
                   tables: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        b, t, e = h.shape
        q, k, v = (proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
                   for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        q, k = self._rotate(q, *tables), self._rotate(k, *tables)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return attn.out_proj(out.transpose(1, 2).reshape(b, t, e))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        esm = self.esm
        padding = tokens.eq(esm.padding_idx)
        x = esm.embed_tokens(tokens).float()  # residual stream in float32 even for half weights
        if esm.token_dropout:
            masked = tokens.eq(esm.mask_idx)
            x = x.masked_fill(masked.unsqueeze(-1), 0.0)
            observed = masked.sum(-1).to(x.dtype) / (~padding).sum(-1)
            x = x * (1 - MASK_RATIO_TRAIN) / (1 - observed)[:, None, None]
        x = x * (1 - padding.unsqueeze(-1).type_as(x))
        # attn_mask True = may attend; None when nothing is padded (lets CUDA pick flash kernels)
        mask = ~padding[:, None, None, :] if bool(padding.any()) else None
        tables = self.rotary(tokens.shape[1], tokens.device)
        for layer in esm.layers:
            x = x + self._attention(layer.self_attn, layer_norm(layer.self_attn_layer_norm, x), mask, tables)
            x = x + layer.fc2(F.gelu(layer.fc1(layer_norm(layer.final_layer_norm, x))))
        return layer_norm(esm.emb_layer_norm_after, x)


class FairEsmForward:
    """fair-esm's own forward as a ``tokens -> last representation`` callable (CPU's choice)."""

    def __init__(self, esm2: Any) -> None:
        self.esm = esm2
        self.layer = int(esm2.num_layers)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.esm(tokens, repr_layers=[self.layer])["representations"][self.layer]


def reference_forward(esm2: Any) -> FairEsmForward:
    return FairEsmForward(esm2)
