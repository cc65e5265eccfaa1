#!/usr/bin/env bash
# Install the torch build this machine needs into the venv, then check it works.
#   install_torch.sh PIP PYTHON     (make install runs it; make install PIP=... swaps the pip)
#
#   TORCH_INDEX set        -> torch from that index, replacing whatever is installed
#                             (e.g. https://download.pytorch.org/whl/cu126)
#   an NVIDIA GPU present  -> the CUDA build for the driver (nvidia-smi's CUDA version) and
#                             the GPUs' compute capabilities, from download.pytorch.org;
#                             a CPU build already installed is replaced
#   otherwise              -> the CPU build: a local wheel if pip's find-links has one,
#                             else PyTorch's CPU index; an installed one is kept
# Afterwards torch must import, and on a GPU machine be a CUDA build that sees every
# GPU and runs a small kernel on each; otherwise this fails with one line.
# The decisions are in torch_wheel.py (tests/install/ runs this with stubs).
set -euo pipefail
PIP="$1"; PYTHON="$2"; VERSION="${TORCH_VERSION:-2.13.0}"
TOOL="$(cd "$(dirname "$0")" && pwd)/torch_wheel.py"

caps=""; driver_cuda=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    caps=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d ' ' | paste -sd, -) || caps=""
    driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9.]*\).*/\1/p' | head -n 1) || true
    [ -n "$caps" ] || caps="unknown"  # an old nvidia-smi: plan refuses in one line
fi

installed=$("$PYTHON" "$TOOL" installed)
decision=$("$PYTHON" "$TOOL" plan --version "$VERSION" --installed "$installed" --index "${TORCH_INDEX:-}" \
           --driver-cuda "$driver_cuda" --caps "$caps" --builds "${TORCH_CUDA_BUILDS:-}")
read -r action expect source requirement <<<"$decision"

if [ "$action" = install ]; then
    if [ "$installed" != absent ]; then
        echo "install_torch: replacing torch ${installed% *} (${installed#* }) with $requirement" >&2
        "$PIP" uninstall -q -y torch
    fi
    if [ "$source" = local-cpu ]; then
        # A local CPU wheel (pip's find-links): install it alone, then its dependencies.
        if ! { "$PIP" install -q --no-index --no-deps "$requirement" 2>/dev/null && "$PIP" install -q "$requirement"; }; then
            "$PIP" install -q "$requirement" --index-url https://download.pytorch.org/whl/cpu \
                || { echo "install_torch: error: could not install $requirement (no local wheel, and PyTorch's CPU index failed)" >&2; exit 1; }
        fi
    else
        "$PIP" install -q "$requirement" --index-url "$source" \
            || { echo "install_torch: error: could not install $requirement from $source; without internet, put the wheel in pip's find-links or use a mirror: make install TORCH_INDEX=URL" >&2; exit 1; }
    fi
fi

cuda=""
case "$source" in */cu[0-9]*) tag="${source##*/cu}"; tag="${tag%/}"; cuda="${tag%?}.${tag: -1}" ;; esac
"$PYTHON" "$TOOL" verify --expect "$expect" --cuda "$cuda" >&2
