#!/usr/bin/env bash
# Install the torch build this machine needs into the venv, then check it works.
#   install_torch.sh PIP PYTHON     (make install runs it; make install PIP=... swaps the pip)
#
#   TORCH_BUILD=cpu|cuXYZ  -> that build (a GPU-less login node preparing for GPU nodes)
#   TORCH_INDEX=URL        -> torch from that index only (a mirror, or one of PyTorch's)
#   an NVIDIA GPU present  -> an installed CUDA torch >= TORCH_MIN that runs on every GPU
#                             here is kept; else the CUDA build for the driver
#                             (nvidia-smi's CUDA version) and the GPUs' compute capabilities
#   otherwise              -> an installed torch >= TORCH_MIN is kept; else the CPU build
# A new torch comes from pip's configured index first (PyPI's Linux wheel is a CUDA build:
# the wheel's CUDA version is checked), PyTorch's index only as an extra one. Torch and
# everything it needs are downloaded before anything is uninstalled, with short timeouts:
# offline, this fails in seconds with one line and the installed torch untouched.
# Afterwards torch must import, and on a GPU machine be a CUDA build that sees every
# GPU and runs a small kernel on each; otherwise this fails with one line.
# The decisions are in torch_wheel.py (tests/install/ runs this with stubs).
set -euo pipefail
PIP="$1"; PYTHON="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOOL="$HERE/torch_wheel.py"

caps=""; driver_cuda=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    caps=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d ' ' | paste -sd, -) || caps=""
    driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9.]*\).*/\1/p' | head -n 1) || true
    [ -n "$caps" ] || caps="unknown"  # an old nvidia-smi: plan refuses in one line
fi

installed=$("$PYTHON" "$TOOL" installed)
works=()
if [ -n "$caps" ] && [ "$installed" != absent ] && [ "${installed#* }" != cpu ] \
        && "$PYTHON" "$TOOL" verify --expect cuda >/dev/null 2>&1; then
    works=(--works)  # the CUDA torch here runs on every GPU: kept if recent enough
fi
args=(--version "${TORCH_VERSION:?}" --min "${TORCH_MIN:-$TORCH_VERSION}" --installed "$installed" "${works[@]}"
      --build "${TORCH_BUILD:-}" --index "${TORCH_INDEX:-}" --driver-cuda "$driver_cuda" --caps "$caps"
      --builds "${TORCH_CUDA_BUILDS:-}")
decision=$("$PYTHON" "$TOOL" plan "${args[@]}")
read -r action expect cuda _ <<<"$decision"

if [ "$action" = install ]; then
    folder="$(dirname "$(dirname "$PYTHON")")/.torch-download"
    rm -rf "$folder" "$folder.log"
    wheel=$("$PYTHON" "$TOOL" fetch --pip "$PIP" --dir "$folder" "${args[@]}")  # one line on failure
    if [ "$installed" != absent ]; then
        echo "install_torch: replacing torch ${installed% *} (${installed#* }) with $(basename "$wheel")" >&2
        "$PIP" uninstall -q -y torch
    fi
    "$PIP" install -q --no-index --find-links "$folder" "$wheel" \
        || { echo "install_torch: error: could not install $(basename "$wheel") from $folder (downloaded, but pip failed: see above)" >&2; exit 1; }
    rm -rf "$folder" "$folder.log"
fi

"$PYTHON" "$TOOL" verify --expect "$expect" --cuda "${cuda#-}" >&2
