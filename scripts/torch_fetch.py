"""Downloading the torch that ``install_torch.sh`` installs, before anything is uninstalled.

``torch_wheel.py fetch`` calls :func:`fetch`: each source of the plan in turn,
``pip download`` of torch and every dependency into one folder, with short
timeouts and few retries (an unreachable index fails in seconds, not after
pip's default 15 s x 5 retries per request). The torch wheel that came is
opened and its ``torch/version.py`` read: a wheel of another build (PyPI's
CUDA build where CPU was wanted, a CPU wheel in pip's find-links where CUDA was)
is refused and the next source tried. Only when a fitting wheel and all it
needs are on disk does the caller uninstall the old torch and install from
that folder, offline.
"""

from __future__ import annotations

import ast
import os
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch_wheel import Source

TIMEOUT_S = os.environ.get("TORCH_PIP_TIMEOUT", "10")  # pip's socket timeout per request
RETRIES = os.environ.get("TORCH_PIP_RETRIES", "1")


class FetchError(Exception):
    """No source gave a fitting wheel: one line saying what each said, and what to do."""


def wheel_cuda(wheel: Path) -> str:
    """The CUDA version a torch wheel was built for ("12.6"), "" for a CPU build."""
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("torch/version.py").decode()
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "cuda" and isinstance(value, ast.Constant):
            return value.value or ""
    return ""


def last_error(log: Path) -> str:
    """pip's last ERROR line in ``log`` (what it could not do), else its last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["no output"])[-1]


def torch_wheels(folder: Path) -> list[Path]:
    return sorted(folder.glob("torch-*.whl"))


def fetch(pip: str, sources: Sequence[Source], folder: Path) -> str:
    """Download from the first source that gives a fitting wheel; returns that wheel's path."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder.with_name(folder.name + ".log")
    tried = []
    for source in sources:
        for old in torch_wheels(folder):
            old.unlink()
        with open(log, "a") as out:
            out.write(f"== pip download {source.describe()}\n")
            out.flush()
            code = subprocess.run([pip, "download", "--dest", str(folder), "--timeout", TIMEOUT_S,
                                   "--retries", RETRIES, "--progress-bar", "off", source.requirement,
                                   *source.index_args], stdout=out, stderr=subprocess.STDOUT).returncode
        wheels = torch_wheels(folder)
        if code != 0 or not wheels:
            tried.append(f"{source.describe()}: {last_error(log)}")
            continue
        got = wheel_cuda(wheels[-1])
        if source.cuda is not None and got != source.cuda:
            built = f"CUDA {got}" if got else "CPU"
            wanted = f"CUDA {source.cuda}" if source.cuda else "CPU"
            tried.append(f"{source.describe()} gave {wheels[-1].name}, a {built} build, not {wanted}")
            continue
        return str(wheels[-1])
    raise FetchError(f"could not download torch: {'; '.join(tried)}. Without internet: run the same make install "
                  f"where there is (a login node: make install TORCH_BUILD=cuXYZ), or point pip at a mirror "
                  f"(PIP_INDEX_URL=URL) or a folder of wheels (PIP_FIND_LINKS=DIR); pip's log: {log}")
