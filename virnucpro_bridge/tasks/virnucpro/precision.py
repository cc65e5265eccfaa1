"""Which float type the models compute and store their weights in, per device.

    CPU                        float32 weights, float32 compute (upstream's numbers)
    CUDA, capability >= 8.0    bfloat16 weights, bf16 autocast (Ampere and later: bf16 tensor cores)
    CUDA, capability <  8.0    float16 weights, fp16 autocast (V100, T4, RTX 20xx: bf16 only emulated, slow)
    --no-autocast              float32 weights and compute everywhere

``torch.cuda.is_bf16_supported()`` is not asked: by default it also says yes
where bf16 is only emulated. The embedding models' weights are stored in the
compute dtype on the GPU (half the memory: ESM-2 3B takes 5.7 GB, not 11.4,
and no cast of every weight on every forward); layer norms, softmax and the
residual streams still run in float32 under autocast. Measured on CPU
(tests/virnucpro/test_precision.py) against float32 weights: embeddings
within EMBEDDING_TOLERANCE (relative, max-norm).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

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
