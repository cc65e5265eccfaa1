#!/usr/bin/env bash
# On a machine with NVIDIA GPUs: confirm what the CPU tests can only simulate.
#   PYTHON=python3 PYTHONPATH=... scripts/gpu_check_devices.sh WORKDIR
# (scripts/gpu_check.sh runs it, with PYTHONPATH holding what gpu_env.py added; the given
# Python's own torch, nothing installed, no network)
# 1. the torch build: a CUDA build that runs a kernel and a half cuBLAS matmul on every GPU
# 2. discovery: NVML lists what torch lists (names, UUIDs)
# 3. binding: a real run's workers, one per GPU, each see only their own GPU by UUID
#    (torch's UUID checked in setup) and use cuda:0
# 4. a real CUDA error (device-side assert) on a run: the worker is restarted after its
#    memory is released, the unit is redone, the run ends 0
# Prints PASS/FAIL per step; exits 1 on the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
fail() { echo "FAIL: $*"; exit 1; }
work="${1:?usage: gpu_check_devices.sh WORKDIR}"
mkdir -p "$work"

"$PY" scripts/torch_wheel.py verify --expect cuda 2>&1 | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "the torch build"
echo "PASS: torch runs on every GPU"

"$PY" - <<'PY' || fail "discovery"
import torch
from virnucpro_bridge.hardware import discovery
from virnucpro_bridge.hardware.nvml import NvmlSampler
found = discovery.discover()
listed = discovery.torch_devices()
assert found.source == "nvml", found
assert [d.name for d in found.devices] == [d.name for d in listed], (found.devices, listed)
assert [d.uuid for d in found.devices] == [d.uuid for d in listed], (found.devices, listed)
for d in found.devices:
    s = NvmlSampler(d.index, d.uuid)
    r = s.read()
    assert r.memory is not None, (d, r)
    print(f"  {d.index}: {d.name} {d.uuid} {d.memory_total / 2**30:.0f} GiB, reading {r}")
    s.close()
print("PASS: discovery by NVML matches torch (names and UUIDs)")
PY

"$PY" - "$work" <<'PY' || fail "fixture inputs"
import random, sys, pathlib
d = pathlib.Path(sys.argv[1]) / "in"; d.mkdir(exist_ok=True)
for i in range(6):
    with open(d / f"f{i:02d}.fa", "w") as fh:
        for j in range(8):
            fh.write(f">s{i}_{j}\n" + "".join(random.choice("ACGT") for _ in range(250)) + "\n")
PY

LBTUI_TEST_STATE="$work/bound-state" timeout 60 "$PY" -m lbtui.cli run --headless --gpus all \
    --task tests.helpers.tasks:BindingTask --sim-rate 40000 --out "$work/bound" "$work/in" >"$work/bound.log" 2>&1 \
    || { tail -5 "$work/bound.log"; fail "the run binding each worker to its GPU"; }
"$PY" - "$work" <<'PY' || fail "binding"
import json, pathlib, sys
from virnucpro_bridge.hardware import discovery
work = pathlib.Path(sys.argv[1])
want = [d.uuid for d in discovery.discover().devices]
got = [json.loads((work / "bound-state" / f"bound-{i}.json").read_text()) for i in range(len(want))]
assert [g["env"]["CUDA_VISIBLE_DEVICES"] for g in got] == want, (got, want)
assert {g["torch_device"] for g in got} == {"cuda:0"}, got
print(f"PASS: {len(got)} worker(s), each bound to its own GPU by UUID (torch's UUID checked in setup), "
      f"threads {[g['threads'] for g in got]}, allocator {got[0]['env']['PYTORCH_CUDA_ALLOC_CONF']}")
PY

LBTUI_TEST_UNIT=f02.fa LBTUI_TEST_STATE="$work/state" timeout 60 "$PY" -m lbtui.cli run --headless --gpus all \
    --task tests.helpers.tasks:CudaFaultTask --sim-rate 20000 --out "$work/fault" "$work/in" >"$work/fault.log" 2>&1
code=$?
grep -E "restarted|retry|retired|failed" "$work/fault.log" | sed 's/^/  /'
[ "$code" = 0 ] || { tail -5 "$work/fault.log"; fail "the run with a CUDA error exited $code"; }
"$PY" - "$work/fault/summary.json" <<'PY' || fail "fault summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["files_failed"] == 0 and s["files_done"] == 6, s
assert sum(d["fault_restarts"] for d in s["devices"]) >= 1, s["devices"]
print("PASS: a device-side assert restarted its worker; every unit done:",
      [(d["name"], d["fault_restarts"], d["final_state"]) for d in s["devices"]])
PY
echo "all device checks passed"
