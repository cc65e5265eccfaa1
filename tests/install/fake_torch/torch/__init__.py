"""A stand-in for a CUDA build of torch, only as far as torch_wheel.py's checks go.

Its version and CUDA version are in build.txt (the stub pip writes it). It
reports the GPUs of the stub nvidia-smi ($STUB_CAPS); with FAKE_TORCH_BROKEN set
every kernel fails as a build without kernels for the GPU does.
"""

import math
import os
from pathlib import Path
from types import SimpleNamespace

__version__, _cuda = (Path(__file__).with_name("build.txt").read_text().split() + ["", ""])[:2]
version = SimpleNamespace(cuda=_cuda)
float16 = "float16"
_CAPS = [tuple(int(p) for p in c.split(".")) for c in os.environ.get("STUB_CAPS", "").split(",") if c]


class _Ones:
    def __init__(self, shape, value=1.0):
        self.shape, self.value = shape, value

    def __matmul__(self, other):
        return _Ones(self.shape, self.value * other.value * self.shape[-1])

    def float(self):
        return self

    def sum(self):
        return self.value * math.prod(self.shape)


def ones(*shape, device="cpu", dtype=None):
    if str(device).startswith("cuda") and os.environ.get("FAKE_TORCH_BROKEN"):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device\n"
                           "CUDA kernel errors might be asynchronously reported")
    return _Ones(shape)


cuda = SimpleNamespace(
    is_available=lambda: bool(_CAPS),
    device_count=lambda: len(_CAPS),
    get_device_name=lambda i: f"Stub GPU sm{_CAPS[i][0]}.{_CAPS[i][1]}",
    get_device_capability=lambda i: _CAPS[i],
    synchronize=lambda i=None: None,
)
