#!/usr/bin/env bash
# Install torch into the venv without pulling a multi-GB CUDA build by accident.
#   TORCH_INDEX set        -> that index (e.g. https://download.pytorch.org/whl/cu126)
#   an NVIDIA GPU present  -> PyPI's default Linux wheel, which is the CUDA build
#   otherwise              -> the CPU build: a local wheel if pip's find-links has
#                             one, else PyTorch's CPU index
set -euo pipefail
PIP="$1"; PYTHON="$2"; VERSION="${TORCH_VERSION:-2.13.0}"
if "$PYTHON" -c "import torch" 2>/dev/null; then
    exit 0
fi
if [ -n "${TORCH_INDEX:-}" ]; then
    exec "$PIP" install -q "torch==$VERSION" --index-url "$TORCH_INDEX"
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    exec "$PIP" install -q "torch==$VERSION"
fi
# A local CPU wheel (pip's find-links): install it alone, then its dependencies.
if "$PIP" install -q --no-index --no-deps "torch==$VERSION" 2>/dev/null; then
    exec "$PIP" install -q "torch==$VERSION"
fi
exec "$PIP" install -q "torch==$VERSION" --index-url https://download.pytorch.org/whl/cpu
