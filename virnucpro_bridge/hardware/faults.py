"""Which exceptions are a device's fault rather than a unit's.

A CUDA error leaves the worker's CUDA context unusable (illegal memory
access, a device-side assert: every later call fails) or says the device
cannot run this work at all (out of memory on a smaller card, no kernel
image for its architecture). Retrying the unit on another device is right;
counting it against the unit, or keeping the worker, is not. The worker
classifies the exception it caught (it has the object; the dispatcher only
gets text), and the coordinator restarts or retires the device
(``coordinator/health.py``).
"""

from __future__ import annotations

# Exception class names (matched by name: torch need not be imported here).
FAULT_TYPES = frozenset({
    "OutOfMemoryError",  # torch.cuda.OutOfMemoryError
    "AcceleratorError",  # torch >= 2.8 raises this for CUDA errors
    "CudaError",  # torch.cuda.CudaError
})

# Text of CUDA, cuBLAS, cuDNN and driver errors as torch and the runtime word them.
FAULT_MARKERS = (
    "CUDA error",
    "CUDA out of memory",
    "CUDA driver",
    "CUDA-capable device",
    "CUBLAS_STATUS_",
    "CUDNN_STATUS_",
    "cuDNN error",
    "device-side assert",
    "no kernel image is available",
    "illegal memory access",
    "unspecified launch failure",
    "uncorrectable ECC error",
    "NVML_ERROR",
)


def is_device_fault(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) is a CUDA or
    driver error: the device's fault, whatever unit was running."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in FAULT_TYPES:
            return True
        text = str(current)
        if any(marker in text for marker in FAULT_MARKERS):
            return True
        current = current.__cause__ or current.__context__
    return False
