"""A Python like the lent GPU machines': torch (and what torch needs), numpy, nothing of ours.

    .venv/bin/python .ci/bare_python.py DEST      (.ci/run; prints DEST's python)

A new venv at DEST (with pip) whose site-packages sees, through one ``.pth``
line, a folder of links to the distributions of torch and its dependencies
and of numpy, as this venv has them: seconds, where installing the 190 MB
torch wheel again takes most of a minute. ``rich`` 12.6.0 is installed in it
too (outside our ``rich>=13``), so the check's replacing of an out-of-range
package is exercised. Everything else the GPU check needs must come from
``.whl/``.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOTS = ("torch", "numpy")


def closure(names: tuple[str, ...]) -> list[md.Distribution]:
    seen: dict[str, md.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional dependency this venv does not have
        key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if key in seen:
            continue
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def main() -> int:
    dest = Path(sys.argv[1]).resolve()
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(dest / "py")], check=True)
    links = dest / "links"
    links.mkdir(parents=True)
    for dist in closure(ROOTS):
        site = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if (site / top).exists() and not (links / top).exists():
                os.symlink(site / top, links / top)
    (site_packages,) = (dest / "py" / "lib").glob("python3*/site-packages")
    (site_packages / "bare_links.pth").write_text(f"{links}\n")
    python = dest / "py" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "rich==12.6.0"], check=True)
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
