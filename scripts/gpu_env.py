"""Make the given Python able to run the GPU check, offline, without touching it.

    PYTHON scripts/gpu_env.py --wheels .whl --target DIR      (scripts/gpu_check.sh runs it)

Runs under the Python the check was given (standard library and pip only).
pip resolves ``.whl/requirements.txt`` (``make gpu-wheels``) against what this
Python already has, offline (``--dry-run --no-index``, only ``.whl`` as a
source): a package it holds in our range is used as it is; one it lacks, or
holds outside our range, comes from ``.whl`` into ``DIR``
(``pip install --no-index --no-deps --target``), which the check puts first
on ``PYTHONPATH``. Nothing is installed into the Python itself. Prints one
line each for what it kept, replaced and added; writes ``DIR/env.json``.
Exit 1 with one line when something cannot be had.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.append(canonical(line.replace("[", " ").split()[0].split("=")[0].split("<")[0].split(">")[0]
                                   .split("!")[0].split("~")[0].split(";")[0]))
    return names


def offline_env() -> dict[str, str]:
    """pip sees only the wheels folder: no index, no configured find-links or mirrors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_BREAK_SYSTEM_PACKAGES="1")  # a dry run changes nothing; installs go to --target
    return env


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=offline_env())


def fail(message: str) -> int:
    print(f"gpu_env: error: {message}", file=sys.stderr)
    return 1


def last_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1]


def theirs(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True)
    parser.add_argument("--target", type=Path, required=True)
    args = parser.parse_args(argv)
    python = f"Python {sys.version.split()[0]} ({sys.executable})"
    reqs = args.wheels / "requirements.txt"
    if not reqs.is_file():
        return fail(f"{reqs} is missing: run `make gpu-wheels` where there is a package index, "
                    "and copy the checkout with its .whl/ folder")
    args.target.mkdir(parents=True, exist_ok=True)
    report = args.target / "pip-report.json"
    proc = pip("install", "--dry-run", "--no-index", "--find-links", str(args.wheels), "--report", str(report),
               "--quiet", "-r", str(reqs))
    if proc.returncode != 0:
        return fail(f"{python} cannot get what the check needs from {args.wheels}: {last_error(proc)} "
                    "(a numpy>=1.24 of its own is needed on Pythons other than 3.12; pip 22.2 or newer)")
    chosen = json.loads(report.read_text())["install"]
    files = []
    added, replaced = [], []
    for item in chosen:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        url = item["download_info"]["url"]
        files.append(url[len("file://"):] if url.startswith("file://") else url)
        had = theirs(name)
        (replaced if had else added).append(f"{name} {had} -> {version}" if had else f"{name} {version}")
    if files:
        proc = pip("install", "--no-index", "--no-deps", "--quiet", "--target", str(args.target / "site"), *files)
        if proc.returncode != 0:
            return fail(f"installing into {args.target / 'site'} failed: {last_error(proc)}")
    new = {canonical(item["metadata"]["name"]) for item in chosen}
    kept = [f"{n} {theirs(n)}" for n in requirement_names(reqs) if n not in new and theirs(n)]
    print(f"gpu_env: {python}")
    print(f"gpu_env: its own, within our ranges: {', '.join(kept) or 'none'}")
    print(f"gpu_env: replaced (outside our ranges): {', '.join(replaced) or 'none'}")
    print(f"gpu_env: added from {args.wheels}: {', '.join(added) or 'none'}")
    (args.target / "env.json").write_text(json.dumps({"python": python, "kept": kept, "replaced": replaced,
                                                      "added": added}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
