"""Fill ``.whl/`` with what the GPU check needs of ours, for a Python that has none of it.

    python3 scripts/gpu_wheels.py [--dest .whl]      (make gpu-wheels; needs a package index)

The GPU machines lent here have a CUDA torch in ``python3`` and no package
index. ``scripts/gpu_check.sh`` installs from this folder, offline, whatever
that Python lacks (``scripts/gpu_env.py``). Downloaded here: lbtui's
dependencies and the test tools the check runs (pyproject.toml's
``dependencies`` and ``test`` extra, less ``EXCLUDED``), with everything they
need, as wheels for CPython 3.10-3.13 on manylinux x86-64: pure-Python wheels
once, binary ones per version. numpy only for ``NUMPY_FOR`` (16 MB a version:
four would not fit the 64 MB this folder may take; elsewhere the Python's own
numpy is used, and every Python with a CUDA torch image has one). Also writes
``requirements.txt``, the requirements the check installs against.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
NUMPY_FOR = ("3.12",)  # the GPU machines' Python
# transformers and einops: only the DNABERT-S reference tests (10 MB); xdist: the check runs one
# pytest; hypothesis: no CUDA test uses it, and its pinned release has no wheel for 3.10
EXCLUDED = {"transformers", "einops", "pytest-xdist", "hypothesis"}
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
LIMIT_BYTES = 64 * 2**20


def name_of(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    return [r for r in wanted if name_of(r) not in EXCLUDED]


def download(dest: Path, python: str, wanted: list[str]) -> None:
    reqs = [r for r in wanted if python in NUMPY_FOR or name_of(r) != "numpy"]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", python,
           "--implementation", "cp", *platforms, "--dest", str(dest), *reqs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")] or ["(no message)"]
        raise SystemExit(f"gpu_wheels: pip download for Python {python} failed: {errors[-1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    wanted = requirements()
    for python in PYTHONS:
        download(args.dest, python, wanted)
    numpy = [p.name for p in args.dest.glob("numpy-*.whl") if not any(f"-cp{v.replace('.', '')}-" in p.name
                                                                         for v in NUMPY_FOR)]
    if numpy:  # a dependency asked for it on another version: the limit says no
        raise SystemExit(f"gpu_wheels: numpy came for a Python outside {NUMPY_FOR}: {numpy}")
    (args.dest / "requirements.txt").write_text("\n".join(wanted) + "\n")
    wheels = sorted(args.dest.glob("*.whl"))
    total = sum(p.stat().st_size for p in wheels)
    print(f"gpu_wheels: {len(wheels)} wheels, {total / 2**20:.1f} MB in {args.dest} "
          f"(CPython {', '.join(PYTHONS)}; numpy for {', '.join(NUMPY_FOR)})")
    if total > LIMIT_BYTES:
        print(f"gpu_wheels: error: more than {LIMIT_BYTES // 2**20} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
