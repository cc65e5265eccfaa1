#!/usr/bin/env bash
# Run the test suite N times in a row while two busy loops keep two cores
# saturated, to shake out tests that depend on timing.
#
#   scripts/loaded_suite.sh [N] [pytest args...]
#
# N defaults to 5; the pytest args default to the whole suite. Uses the
# checkout's .venv/bin/python (else python3; $LBTUI_TEST_PYTHON overrides
# both, e.g. for a worktree sharing another checkout's venv). Prints one line per run with its
# pass/fail counts and a last line "loaded suite: N runs, F failed runs";
# exits 1 when any run failed.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${LBTUI_TEST_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"

RUNS=5
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    RUNS="$1"
    shift
fi

BUSY=()
stop_busy() {
    for pid in "${BUSY[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${BUSY[@]}"; do
        wait "$pid" 2>/dev/null
    done
    BUSY=()
}
trap stop_busy EXIT
trap 'exit 130' INT TERM  # the EXIT trap still stops the busy loops

for _ in 1 2; do
    python3 -c 'while 1: pass' &
    BUSY+=("$!")
done
echo "loaded suite: busy loops ${BUSY[*]} running; python: $PYTHON; pytest args: ${*:-(whole suite)}"

failed_runs=0
for run in $(seq 1 "$RUNS"); do
    LOG="$(mktemp -t loaded-suite.XXXXXX)"
    "$PYTHON" -m pytest -q -p no:cacheprovider "$@" >"$LOG" 2>&1
    code=$?
    # pytest's last line, e.g. "3 failed, 120 passed, 2 skipped in 81.20s"
    counts="$(grep -E '^=*.*[0-9]+ (passed|failed|error|errors|skipped|deselected)' "$LOG" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')"
    if [ "$code" -ne 0 ]; then
        failed_runs=$((failed_runs + 1))
        echo "run $run/$RUNS: FAILED (exit $code): ${counts:-no summary line}"
        grep -E '^(FAILED|ERROR) ' "$LOG" | sed 's/^/    /'
        echo "    full output: $LOG"
    else
        echo "run $run/$RUNS: ok: $counts"
        rm -f "$LOG"
    fi
done

echo "loaded suite: $RUNS runs, $failed_runs failed runs"
[ "$failed_runs" -eq 0 ]
