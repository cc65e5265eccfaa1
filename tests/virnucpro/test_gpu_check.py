"""The GPU check's parts that run without a GPU: its measurements on CPU with tiny
shapes (out of memory injected), and the script's one-line refusal without CUDA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # starts processes that build models


def test_every_section_is_measured_on_cpu(tmp_path):
    rows_file, table_file = tmp_path / "rows.json", tmp_path / "table.txt"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--small",
                           "--json", str(rows_file), "--table", str(table_file)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(rows_file.read_text())
    by_check: dict[str, list[dict]] = {}
    for row in rows:
        by_check.setdefault(row["check"].split()[0], []).append(row)
    assert len(by_check["DNABERT-S"]) == 4 and len(by_check["ESM-2"]) == 4  # fp32/half x two attentions each
    assert all(r["result"].endswith("seq/s") and float(r["result"].split()[0]) > 0
               for r in by_check["DNABERT-S"] + by_check["ESM-2"])
    assert len(by_check["CUDA"]) == 4 and all("max |diff|" in r["result"] for r in by_check["CUDA"])
    backoff = by_check["OOM"][0]["result"]
    assert int(backoff.split()[0]) >= 1, backoff  # the oversized budget did run out, and was halved
    assert by_check["NVML"]
    table = table_file.read_text().splitlines()
    assert table[0].split() == ["check", "setting", "result"] and len(table) == len(rows) + 2


def test_script_without_cuda_refuses_in_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: the script would run")
    env = {**os.environ, "LBTUI_TEST_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("gpu_check: no CUDA GPU visible to torch")
