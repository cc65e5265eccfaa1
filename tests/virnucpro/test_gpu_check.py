"""The GPU check's parts that run without a GPU: its measurements on CPU with tiny
shapes (out of memory injected), its verdicts, and the script's one-line refusal
without CUDA (CI runs the whole script with --allow-cpu, offline: .ci/run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from gpu_report import Report  # noqa: E402


@pytest.mark.slow
def test_every_section_is_measured_and_checked_on_cpu(tmp_path):
    rows_file, table_file = tmp_path / "rows.json", tmp_path / "table.txt"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--small",
                           "--json", str(rows_file), "--table", str(table_file)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads(rows_file.read_text())
    rows = [(r["model"].split()[0], r["dtype"], r["forward"]) for r in report["rows"]]
    assert rows == [("DNABERT-S", d, k) for d in ("fp32", "bf16") for k in ("sdpa", "matmul")] + [
        ("ESM-2", d, f) for d in ("fp32", "bf16") for f in ("sdpa", "fair-esm")]
    assert all(r["seq_s"] > 0 and r["tok_s"] > r["seq_s"] for r in report["rows"])
    checks = [c["check"] for c in report["checks"]]
    assert len(checks) == 5 and all(c["passed"] for c in report["checks"])
    assert sum("vs CPU float32" in c for c in checks) == 4 and checks[-1].startswith("OOM back-off")
    assert " 0 back-offs" not in checks[-1]  # the oversized budget did run out, and was halved
    table = table_file.read_text().splitlines()
    head = next(i for i, line in enumerate(table) if line.startswith("model"))
    assert table[head].split() == ["model", "dtype", "forward", "seq/s", "tokens/s", "peak", "mem", "GPU", "util"]
    assert sum(line.startswith("PASS  ") for line in table) == 5


def test_a_check_beyond_its_tolerance_or_not_finite_fails(capsys):
    report = Report("cpu")
    expected = torch.ones(3, 4)
    report.close_to("ESM-2", expected + 5e-5, expected, None)  # within float32's 1e-4
    report.close_to("ESM-2", expected + 3e-4, expected, None)
    report.close_to("ESM-2", expected + 0.01, expected, torch.bfloat16)  # within bf16's 0.02
    bad = expected.clone()
    bad[1, 2] = float("nan")
    report.finite("DNABERT-S fp16 sdpa", bad)
    report.finite("DNABERT-S fp16 sdpa", expected)  # finite: no line
    assert [ok for ok, _ in report.checks] == [True, False, True, False]
    assert report.checks[3][1] == "DNABERT-S fp16 sdpa: 1 of 3 embeddings hold NaN or Inf"
    assert "FAIL  ESM-2 fp32 vs CPU float32: max |diff| 3.00e-04" in report.render()


@pytest.mark.slow
def test_script_without_cuda_refuses_in_one_line_unless_allowed(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: the script would run")
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("gpu_check: no CUDA GPU visible to torch")
    assert "--allow-cpu runs the parts that need none" in proc.stderr
