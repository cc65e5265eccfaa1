"""``lbtui models check``: the checksums models.json recorded, then each model built and run on CPU.

Used by ``models check`` and at the end of ``models fetch``; a broken file is one
line naming it (a TaskError), exit 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def _size(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_folder(folder: str, chunk_length: int) -> int:
    """``lbtui models check``: the recorded checksums, then each model built and run on CPU."""
    from virnucpro_bridge.tasks.virnucpro import VirNucProTask
    from virnucpro_bridge.tasks.virnucpro.fetch import record
    from virnucpro_bridge.tasks.virnucpro.loading import load_pipeline, smoke
    from virnucpro_bridge.tasks.virnucpro.models import CHECK

    if folder != "auto" and Path(folder).is_dir():
        root = Path(folder)
        listed = record.read(root).get("files", {})
        if listed:
            total = sum(int(e.get("size") or 0) for e in listed.values())
            print(f"sha256 of the {len(listed)} files {record.RECORD} lists ({_size(total)}) ...",
                  file=sys.stderr, flush=True)
            record.verify(root)
            print(f"checksums   {len(listed)} files match {root / record.RECORD}")
    task = VirNucProTask({"models": folder, "chunk_length": chunk_length})
    notices = task.check(CHECK)  # every file, without building a model
    started = time.perf_counter()
    pipeline = load_pipeline(task.paths, "cpu")
    loaded = time.perf_counter() - started
    seconds = smoke(pipeline)
    for report in pipeline.reports:
        print(f"{report.name:<11} {report.path}")
        print(f"{'':<11} {report.layout}; {report.parameters:,} parameters; {report.output}")
    for notice in notices:
        print(f"note: {notice}")
    print(f"loaded on cpu in {loaded:.1f} s; one test sequence through each model in {seconds:.2f} s")
    print("ok")
    return 0
