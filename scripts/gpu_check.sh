#!/usr/bin/env bash
# The GPU proof, in one call on a bare, offline GPU machine (under 8 minutes on one H100):
#
#   PYTHON=python3 scripts/gpu_check.sh [--out DIR] [--device cuda:N] [--allow-cpu]
#
# Uses only the Python it is given (a CUDA torch in it; default python3) and the
# checkout with its .whl/ folder (`make gpu-wheels`, made where there is a package
# index). No network, no `make install`, nothing installed into that Python. Parts,
# each under its own time limit (they add up to 450 s):
#   env      (40 s) what the Python lacks of ours, from .whl/ into a folder of its own
#                   (scripts/gpu_env.py says what it kept, replaced and added)
#   devices  (80 s) scripts/gpu_check_devices.sh: the CUDA build runs on every GPU,
#                   discovery (NVML against torch), each worker bound to its GPU by UUID,
#                   a device-side assert restarts its worker and the run still ends 0
#   tests   (100 s) every test file with CUDA-marked tests (pytest -m cuda)
#   measure (150 s) benchmarks/gpu_check.py: the table (below); embeddings finite, CUDA
#                   against CPU float32 within the tests' tolerances, the OOM back-off
#                   recovering under a memory cap
#   run      (80 s) scripts/gpu_check_run.py: a real `lbtui run --task virnucpro --gpus all`
#                   on the demo models against `--gpus cpu:1` on the same inputs: scores
#                   within 0.05, labels agreeing on >= 99 % of sequences
# Prints one table: per model (DNABERT-S real size, ESM-2 3B-shaped, random weights) and
# dtype, sequences/s, tokens/s, peak memory and GPU utilisation (NVML), beside fair-esm's
# own forward; then one line per part. Files under --out DIR (default: a new temp folder).
#
# --allow-cpu: no GPU needed; every part that can run without CUDA runs the same way
# (same Python, same wheels, offline), on CPU with small shapes; the CUDA-only steps say
# "skipped: needs CUDA". CI runs this.
#
# Exit: 0 when every part passed; 1 when one failed; 2 when no CUDA GPU is visible to
# torch (without --allow-cpu) or the arguments are wrong.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${PYTHON:-python3}"
DEVICE="cuda:0"
OUT=""
ALLOW_CPU=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --allow-cpu) ALLOW_CPU=1; shift ;;
        *) echo "gpu_check: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
command -v "$PYTHON" >/dev/null 2>&1 || { echo "gpu_check: no Python at PYTHON=$PYTHON" >&2; exit 2; }
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT" || exit 2
OUT="$(cd "$OUT" && pwd)"
WORK="$OUT/work"
rm -rf "$WORK"
mkdir -p "$WORK"
export PYTHONUNBUFFERED=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1  # nothing is fetched, ever

CUDA=1
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    CUDA=""
    what=$("$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)' 2>&1 | tail -1)
    if [ -z "$ALLOW_CPU" ]; then
        echo "gpu_check: no CUDA GPU visible to torch ($what); --allow-cpu runs the parts that need none" >&2
        exit 2
    fi
    DEVICE="cpu"
fi

START=$(date +%s)
: >"$OUT/parts.txt"
# part NAME LIMIT COMMAND...: run it under its limit, its output to the terminal and OUT/NAME.txt
part() {
    local name="$1" limit="$2" t0 code
    shift 2
    echo "== $name (limit $limit s)"
    t0=$(date +%s)
    timeout --kill-after=5 "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    code=${PIPESTATUS[0]}
    local took=$(( $(date +%s) - t0 ))
    case "$code" in
        0) verdict="passed" ;;
        124|137) verdict="FAILED (over its $limit s limit)" ;;
        *) verdict="FAILED (exit $code)" ;;
    esac
    printf '%-8s %-40s %4d s\n' "$name" "$verdict" "$took" >>"$OUT/parts.txt"
    return 0
}

part env 40 "$PYTHON" scripts/gpu_env.py --wheels "$ROOT/.whl" --target "$WORK/env"
if grep -q FAILED "$OUT/parts.txt"; then  # without its packages every other part fails on an import
    cat "$OUT/parts.txt"
    exit 1
fi
export PYTHONPATH="$WORK/env/site:$ROOT"
export LBTUI_PYTHON="$PYTHON"

if [ -n "$CUDA" ]; then
    part devices 80 env PYTHON="$PYTHON" "$ROOT/scripts/gpu_check_devices.sh" "$WORK/devices"
else
    echo "== devices: skipped: needs CUDA"
    printf '%-8s %-40s %4d s\n' devices "skipped: needs CUDA" 0 >>"$OUT/parts.txt"
fi

# Every file with CUDA-marked tests (-rs lists skips: a CUDA test skipped on a GPU is seen)
mapfile -t cuda_tests < <(grep -rlE "pytest\.mark\.cuda|mark\.cuda\b" tests --include='test_*.py' | sort)
part tests 100 "$PYTHON" -m pytest -q -p no:cacheprovider -m cuda -rs "${cuda_tests[@]}"

small=()
[ -z "$CUDA" ] && small=(--small)
part measure 150 "$PYTHON" benchmarks/gpu_check.py --device "$DEVICE" "${small[@]}" \
    --json "$OUT/gpu_check.json" --table "$OUT/gpu_check_table.txt"

part run 80 "$PYTHON" scripts/gpu_check_run.py --work "$WORK/run" ${CUDA:+--cuda}

echo
echo "== gpu_check: $(( $(date +%s) - START )) s on ${DEVICE} ($("$PYTHON" -c 'import sys, torch; print(f"Python {sys.version.split()[0]}, torch {torch.__version__}")' 2>&1 | tail -1)); files in $OUT"
[ -f "$OUT/gpu_check_table.txt" ] && cat "$OUT/gpu_check_table.txt"
echo
cat "$OUT/parts.txt"
grep -q FAILED "$OUT/parts.txt" && exit 1
exit 0
