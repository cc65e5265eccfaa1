"""The GPU check's environment (scripts/gpu_env.py, gpu_wheels.py) and its run
comparison (gpu_check_run.py), without a GPU and without a package index."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wheel(folder: Path, name: str, version: str) -> Path:
    """A pure-Python wheel holding one module ``<name>_probe.py``."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {f"{name.replace('-', '_')}_probe.py": f"VERSION = {version!r}\n",
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for path, text in files.items()]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name_, text in files.items():
            z.writestr(name_, text)
    return path


@pytest.mark.slow
def test_gpu_env_keeps_what_fits_replaces_what_does_not_and_adds_the_rest(tmp_path: Path) -> None:
    import pluggy
    import pytest as this_pytest

    wheels = tmp_path / "whl"
    wheels.mkdir()
    wheel(wheels, "lbtui-probe-dep", "2.0")
    wheel(wheels, "pytest", "99.0")  # this Python's pytest is outside the range asked for below
    (wheels / "requirements.txt").write_text(f"lbtui-probe-dep>=2\npytest>=99\npluggy>={pluggy.__version__}\n")
    target = tmp_path / "env"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
           "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}  # were an index asked, it would fail
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_env.py"), "--wheels", str(wheels),
                           "--target", str(target)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"gpu_env: its own, within our ranges: pluggy {pluggy.__version__}" in lines
    assert f"gpu_env: replaced (outside our ranges): pytest {this_pytest.__version__} -> 99.0" in lines
    assert f"gpu_env: added from {wheels}: lbtui-probe-dep 2.0" in lines
    assert sorted(p.name for p in (target / "site").glob("*_probe.py")) == ["lbtui_probe_dep_probe.py",
                                                                            "pytest_probe.py"]
    assert json.loads((target / "env.json").read_text())["replaced"] == [f"pytest {this_pytest.__version__} -> 99.0"]
    assert importlib.util.find_spec("lbtui_probe_dep_probe") is None  # nothing went into this Python


def test_gpu_env_without_the_wheels_says_how_to_make_them(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_env.py"), "--wheels", str(tmp_path / "none"),
                           "--target", str(tmp_path / "env")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"gpu_env: error: {tmp_path / 'none' / 'requirements.txt'} is missing: run `make gpu-wheels` where there is "
        "a package index, and copy the checkout with its .whl/ folder"]


def test_gpu_wheels_takes_our_requirements_less_what_the_check_never_imports() -> None:
    gw = load("gpu_wheels")
    names = [gw.name_of(r) for r in gw.requirements()]
    assert {"textual", "fair-esm", "numpy", "rich", "aiohttp", "pytest", "pytest-asyncio", "psutil",
            "nvidia-ml-py", "pytest-textual-snapshot", "syrupy"} <= set(names)
    assert not {"transformers", "einops", "pytest-xdist", "hypothesis", "ruff", "ray"} & set(names)


def results(out: Path, rows: list[tuple[str, str, float, float]], labels: dict[str, str]) -> Path:
    folder = out / "results" / "in.fa"
    folder.mkdir(parents=True)
    (folder / "prediction_results.txt").write_text(
        "Sequence_ID\tPrediction\tscore1\tscore2\n" + "".join(f"{i}\t{p}\t{a}\t{b}\n" for i, p, a, b in rows))
    (folder / "prediction_results_highestscore.csv").write_text(
        "Modified_ID\tIs_Virus\n" + "".join(f"{k}\t{v}\n" for k, v in labels.items()))
    return out


def test_the_run_comparison_holds_scores_and_labels_to_their_limits(tmp_path: Path, capsys) -> None:
    run = load("gpu_check_run")
    n = 200
    rows = [(f"s{i}_chunk_1F1", "virus", 0.4, 0.6) for i in range(n)]
    labels = {f"s{i}_chunk_1": "True" for i in range(n)}
    expected = results(tmp_path / "cpu1", rows, labels)
    close = [(i, p, a + 0.04, b - 0.04) for i, p, a, b in rows]
    one_off = {**labels, "s7_chunk_1": "False"}  # 99.5 % agree
    assert run.compare(results(tmp_path / "a", close, one_off), expected) == []
    far = [*close[:-1], (rows[-1][0], "virus", 0.46, 0.54)]
    two_off = {**one_off, "s8_chunk_1": "False", "s9_chunk_1": "False"}  # 98.5 %
    problems = run.compare(results(tmp_path / "b", far, two_off), expected)
    assert problems == ["a score differs by 0.0600 > 0.05", "labels agree on 98.50 % < 99 %"]
    assert run.compare(results(tmp_path / "c", rows[1:], labels), expected)[0].startswith("different sequences: 1")
