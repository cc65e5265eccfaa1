"""Which float type the models compute and store their weights in, per device.

    CPU                        float32 weights, float32 compute (upstream's numbers)
    CUDA, capability >= 8.0    bfloat16 weights, bf16 autocast (Ampere and later: bf16 tensor cores)
    CUDA, capability <  8.0    float16 weights, fp16 autocast (V100, T4, RTX 20xx: bf16 only emulated, slow)
    --no-autocast              float32 weights and compute everywhere

Capability decides, not ``torch.cuda.is_bf16_supported()`` (it also says yes
where bf16 is only emulated). Weights are stored in the compute dtype on the GPU
(ESM-2 3B takes 5.7 GB, not 11.4; no cast per forward); layer norms, softmax and
the residual streams stay float32. Embeddings stay within EMBEDDING_TOLERANCE of
float32 weights (tests/virnucpro/test_precision.py). A batch whose embeddings come
out non-finite (fp16 ends at 65504) is redone in float32 by :func:`full_precision`,
which upcasts one module at a time: one layer's float32 copy, not the model's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import nn

BF16_MIN_CAPABILITY = (8, 0)  # Ampere: the first generation with bf16 tensor cores
# max |half - fp32| / max |fp32| of a mean embedding; bf16 keeps 8 bits of mantissa
# (~0.4 % per rounding), fp16 keeps 11. Measured on CPU: 0.6 % (bf16) and 0.1 % (fp16) for a
# 6-layer ESM-2 and a 4-layer DNABERT-S; the limits leave room for deeper models.
EMBEDDING_TOLERANCE = {torch.bfloat16: 0.02, torch.float16: 0.005}


def compute_dtype(device: str, enabled: bool = True) -> torch.dtype | None:
    """bf16 or fp16 on a CUDA device by its compute capability; None (float32) on CPU or when off."""
    if not enabled or not device.startswith("cuda"):
        return None
    capability = tuple(torch.cuda.get_device_capability(torch.device(device)))
    return torch.bfloat16 if capability >= BF16_MIN_CAPABILITY else torch.float16


def autocast(device: str, dtype: torch.dtype | None) -> AbstractContextManager:
    """Autocast to ``dtype`` on ``device``'s type; nothing for float32."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def dtype_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


@contextmanager
def full_precision(model: nn.Module) -> Iterator[None]:
    """Inside: every submodule with half-precision weights runs with float32 copies of them,
    made just before its forward and dropped after it (hooks); outside, nothing changed.
    Code that reads weights without calling their module must cast them itself (ours does),
    or hold ``in_full_precision``, which is True inside (esm_forward.EsmSdpa's fused weights)."""
    flagged = [m for m in model.modules() if hasattr(m, "in_full_precision")]
    for module in flagged:
        module.in_full_precision = True
    handles, swapped = [], []
    for module in model.modules():
        half = {name: p for name, p in module.named_parameters(recurse=False)
                if p.is_floating_point() and p.dtype != torch.float32}
        if not half:
            continue
        # the float32 copies live only while their module runs
        handles.append(module.register_forward_pre_hook(
            lambda mod, _args, names=tuple(half): _put(mod, {n: _float32(getattr(mod, n)) for n in names})))
        handles.append(module.register_forward_hook(lambda mod, _args, _out, half=half: _put(mod, half)))
        swapped.append((module, half))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, half in swapped:  # a forward that raised left its module upcast
            _put(module, half)
        for module in flagged:
            module.in_full_precision = False


def _float32(p: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(p.float(), requires_grad=False)


def _put(module: nn.Module, params: dict[str, torch.Tensor]) -> None:
    for name, p in params.items():
        setattr(module, name, p)
