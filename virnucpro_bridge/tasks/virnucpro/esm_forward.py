"""ESM-2's forward pass with ``scaled_dot_product_attention``, on fair-esm's own weights.

fair-esm's ``ESM2.forward`` stays the reference. This runs the same network over
the same module, returning only the last layer's representation::

    tokens ─► embed (token-dropout scaling, padding zeroed) ─► N x pre-LN layer:
        h = LN(x) cast once to the weights' dtype; q|k|v = one matmul (fused weight)
        x + out_proj(SDPA(rotary(q, k) in one float32 step, v, key padding mask))
        x + fc2(gelu(fc1(LN(x))))
    ─► emb_layer_norm_after ─► (batch, tokens, embed_dim)

Why: SDPA reaches fused kernels on CUDA, where fair-esm materialises every score
matrix, averages attention over heads and runs the LM head, all unused here.
Rotary tables are float32 (bf16 rounds positions above 256); the residual stream
stays float32. fair-esm's q/k/v weights become views into the fused weight, so it
costs no memory and fair-esm's own forward still runs on the same module.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

MASK_RATIO_TRAIN = 0.15 * 0.8  # ESM-2's token-dropout constant (fair-esm)
ROTARY_BASE = 10000.0


class Float32Norm:
    """A layer norm applied in float32 whatever its weights' dtype (autocast does this on CUDA
    only; on CPU a float32 input with half weights is an error), its float32 weights made once."""

    def __init__(self, norm: nn.LayerNorm) -> None:
        self.norm = norm
        self.shape, self.eps = norm.normalized_shape, norm.eps
        self._copy()

    def _copy(self) -> None:
        norm = self.norm
        self.weight = None if norm.weight is None else norm.weight.detach().float()
        self.bias = None if norm.bias is None else norm.bias.detach().float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is not None and self.weight.device != x.device:  # the model moved after wrapping
            self._copy()
        return F.layer_norm(x.float(), self.shape, self.weight, self.bias, self.eps)


def fuse_qkv(attn: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One (3e, e) weight and (3e,) bias for q, k and v; fair-esm's three projections
    are then given views into them (their values unchanged, no second copy kept)."""
    projections = (attn.q_proj, attn.k_proj, attn.v_proj)
    weight = torch.cat([p.weight.detach() for p in projections])
    has_bias = all(p.bias is not None for p in projections)
    bias = torch.cat([p.bias.detach() for p in projections]) if has_bias else None
    e = attn.q_proj.weight.shape[0]
    for i, p in enumerate(projections):
        p.weight = nn.Parameter(weight[i * e:(i + 1) * e], requires_grad=False)
        if bias is not None:
            p.bias = nn.Parameter(bias[i * e:(i + 1) * e], requires_grad=False)
    return weight, bias


class EsmSdpa(nn.Module):
    """Wraps a fair-esm ``ESM2`` (shares its parameters); ``forward(tokens)`` -> last representation."""

    def __init__(self, esm2: Any) -> None:
        super().__init__()
        self.esm = esm2
        self.heads = int(esm2.attention_heads)
        self.head_dim = int(esm2.embed_dim) // self.heads
        self.num_layers, self.embed_dim = int(esm2.num_layers), int(esm2.embed_dim)
        self._rotary: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self._fused: list[tuple[torch.Tensor, torch.Tensor | None]] = [fuse_qkv(layer.self_attn)
                                                                       for layer in esm2.layers]
        self._norms = [(Float32Norm(layer.self_attn_layer_norm), Float32Norm(layer.final_layer_norm))
                       for layer in esm2.layers]
        self._final_norm = Float32Norm(esm2.emb_layer_norm_after)
        self.in_full_precision = False  # set by precision.full_precision: the fused weights upcast too

    def _qkv(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Layer ``i``'s fused weight and bias, rebuilt if the model was moved or cast since."""
        weight, bias = self._fused[i]
        attn = self.esm.layers[i].self_attn
        if attn.q_proj.weight.data_ptr() != weight.data_ptr():
            self._fused[i] = weight, bias = fuse_qkv(attn)
        return weight, bias

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
        """Rotary embedding of ``x`` (..., tokens, [2,] heads, head_dim), in float32, back in x's dtype."""
        xf = x.float()
        half = xf.shape[-1] // 2
        turned = torch.cat((-xf[..., half:], xf[..., :half]), dim=-1)
        return (xf * cos + turned * sin).to(x.dtype)

    def _attention(self, i: int, attn: Any, h: torch.Tensor, mask: torch.Tensor | None,
                   tables: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        b, t, e = h.shape
        weight, bias = self._qkv(i)
        if self.in_full_precision:
            compute = torch.float32
        elif torch.is_autocast_enabled("cuda") and h.is_cuda:
            compute = torch.get_autocast_dtype("cuda")
        else:
            compute = weight.dtype
        qkv = F.linear(h.to(compute), weight.to(compute), None if bias is None else bias.to(compute))
        qkv = qkv.view(b, t, 3, self.heads, self.head_dim)
        cos, sin = (table[:, None, None, :] for table in tables)  # over (tokens, q|k, heads, head_dim)
        qk = self._rotate(qkv[:, :, :2], cos, sin)  # q and k in one step
        q, k, v = qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             attn_mask=mask)
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
        for i, layer in enumerate(esm.layers):
            attention_norm, final_norm = self._norms[i]
            x = x + self._attention(i, layer.self_attn, attention_norm(x), mask, tables)
            x = x + layer.fc2(F.gelu(layer.fc1(final_norm(x))))
        return self._final_norm(x)


class FairEsmForward:
    """fair-esm's own forward as a ``tokens -> last representation`` callable (CPU's choice)."""

    def __init__(self, esm2: Any) -> None:
        self.esm = esm2
        self.layer = int(esm2.num_layers)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.esm(tokens, repr_layers=[self.layer])["representations"][self.layer]


def reference_forward(esm2: Any) -> FairEsmForward:
    return FairEsmForward(esm2)
