#!/usr/bin/env bash
# On a machine with NVIDIA GPUs: confirm what the CPU tests can only simulate.
#   scripts/gpu_check_devices.sh    (from the repository root; a few minutes; scripts/gpu_check.sh runs it first)
# 1. make install: the CUDA torch build for this driver, checked with a kernel on every GPU
# 2. discovery: NVML lists what torch lists; CUDA_VISIBLE_DEVICES by UUID; readings
# 3. a real CUDA error (device-side assert) on a run: the worker is restarted after its
#    memory is released, the unit is redone, the run ends 0
# Prints PASS/FAIL per step; exits 1 on the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
fail() { echo "FAIL: $*"; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || { echo "no NVIDIA GPU here: nothing to check"; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

make install >"$work/install.log" 2>&1 || { tail -3 "$work/install.log"; fail "make install"; }
echo "PASS: make install: $(grep -E '^torch .* works' "$work/install.log" | tail -1)"

$PY - <<'PY' || fail "discovery"
import os, torch
from virnucpro_bridge.hardware import discovery
from virnucpro_bridge.hardware.nvml import NvmlSampler
found = discovery.discover()
names = [d.name for d in found.devices]
want = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
assert found.source == "nvml", found
assert names == want, (names, want)
for d in found.devices:
    s = NvmlSampler(d.index, d.uuid)
    r = s.read()
    assert r.memory is not None, (d, r)
    print(f"  cuda:{d.index} {d.name} {d.uuid} {d.memory_total / 2**30:.0f} GiB, reading {r}")
    s.close()
print("PASS: discovery by NVML matches torch:", names)
PY

uuid=$($PY -c "from virnucpro_bridge.hardware.discovery import discover; print(discover().devices[-1].uuid)")
$PY - "$work" <<'PY' || fail "fixture inputs"
import random, sys, pathlib
d = pathlib.Path(sys.argv[1]) / "in"; d.mkdir()
for i in range(6):
    with open(d / f"f{i:02d}.fa", "w") as fh:
        for j in range(8):
            fh.write(f">s{i}_{j}\n" + "".join(random.choice("ACGT") for _ in range(250)) + "\n")
PY
CUDA_VISIBLE_DEVICES="${uuid:0:12}" $PY -m lbtui.cli run --headless --gpus auto --task sim --sim-rate 40000 \
    --out "$work/uuid" "$work/in" >"$work/uuid.log" 2>&1 || { tail -5 "$work/uuid.log"; fail "run by UUID"; }
n=$($PY -c "import json,sys; print(len(json.load(open(sys.argv[1]))['devices']))" "$work/uuid/summary.json")
[ "$n" = 1 ] || fail "CUDA_VISIBLE_DEVICES=${uuid:0:12}: $n devices, expected 1"
echo "PASS: CUDA_VISIBLE_DEVICES by UUID prefix gives one device"

LBTUI_TEST_UNIT=f02.fa LBTUI_TEST_STATE="$work/state" timeout 180 $PY -m lbtui.cli run --headless --gpus all \
    --task tests.helpers.tasks:CudaFaultTask --sim-rate 20000 --out "$work/fault" "$work/in" >"$work/fault.log" 2>&1
code=$?
grep -E "restarted|retry|retired|failed" "$work/fault.log" | sed 's/^/  /'
[ "$code" = 0 ] || { tail -5 "$work/fault.log"; fail "the run with a CUDA error exited $code"; }
$PY - "$work/fault/summary.json" <<'PY' || fail "fault summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["files_failed"] == 0 and s["files_done"] == 6, s
assert sum(d["fault_restarts"] for d in s["devices"]) >= 1, s["devices"]
print("PASS: a device-side assert restarted its worker; every unit done:",
      [(d["name"], d["fault_restarts"], d["final_state"]) for d in s["devices"]])
PY
echo "all GPU checks passed"
