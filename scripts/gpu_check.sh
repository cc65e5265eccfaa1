#!/usr/bin/env bash
# One GPU check, ready to run on a CUDA machine: under 8 minutes on one GPU.
#
#   scripts/gpu_check.sh [--device cuda:N] [--out DIR]
#
# 0. scripts/gpu_check_devices.sh: the CUDA torch build verified on every GPU, discovery
#    (NVML against torch, CUDA_VISIBLE_DEVICES by UUID), a real CUDA error restarting a worker;
# 1. the CUDA-marked tests (pytest -m cuda: dtypes by capability, weights in the
#    compute dtype, SDPA forwards against the CPU path, a real out-of-memory
#    back-off, NVML), each skipped elsewhere;
# 2. benchmarks/gpu_check.py: one table of DNABERT-S (real size) and ESM-2
#    3B-shaped sequences/s in fp32 and bf16/fp16, SDPA against the reference
#    attention, CUDA-vs-CPU embedding differences, the OOM back-off under a
#    memory cap, NVML readings. Random weights built locally; nothing downloaded.
#
# Uses the checkout's .venv/bin/python (else python3; $LBTUI_TEST_PYTHON overrides).
# With --out DIR it also writes DIR/gpu_check_tests.txt, DIR/gpu_check_table.txt
# and DIR/gpu_check.json. Exit status: 0 when both parts passed, 1 when one failed,
# 2 when no CUDA GPU is visible to torch.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${LBTUI_TEST_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
DEVICE="cuda:0"
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        *) echo "gpu_check: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT" || exit 2
export PYTHONUNBUFFERED=1

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible to torch ($("$PYTHON" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1))" >&2
    exit 2
fi

START=$(date +%s)
echo "== devices: install, discovery, a CUDA error"
timeout 300 "$ROOT/scripts/gpu_check_devices.sh" 2>&1 | tee "$OUT/gpu_check_devices.txt"
DEVICES=${PIPESTATUS[0]}

echo "== CUDA-marked tests"
# -rs lists skips, so a CUDA test skipped on a GPU machine is seen
timeout 240 "$PYTHON" -m pytest -q -p no:cacheprovider -m cuda -rs tests/virnucpro 2>&1 | tee "$OUT/gpu_check_tests.txt"
TESTS=${PIPESTATUS[0]}

echo "== measurements ($DEVICE)"
timeout 330 "$PYTHON" benchmarks/gpu_check.py --device "$DEVICE" --json "$OUT/gpu_check.json" \
    --table "$OUT/gpu_check_table.txt" 2>&1 | tee "$OUT/gpu_check_log.txt"
TABLE=${PIPESTATUS[0]}

echo "== gpu_check: devices exit $DEVICES, tests exit $TESTS, measurements exit $TABLE, $(( $(date +%s) - START )) s; files in $OUT"
[ "$DEVICES" -eq 0 ] && [ "$TESTS" -eq 0 ] && [ "$TABLE" -eq 0 ] && exit 0
exit 1
