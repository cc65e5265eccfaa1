"""Suite-wide ordering for parallel runs.

``make test`` hands whole test files to its workers (pytest-xdist,
``--dist loadfile``), in collection order. Left in directory order, files of
real runs and models (``tests/virnucpro``, ``tests/integration/ray``) came last, and one
core finished a long file alone while the other sat idle. Files with slow tests
go first and the many quick files fill the end, so the cores finish together.
Inside a file the order is unchanged; every worker sorts the same way.

Tests marked ``cuda`` are skipped without a CUDA GPU, wherever they live
(scripts/gpu_check.sh runs them on one); torch is imported only when one is collected.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)  # after the folders' own hooks have marked their tests slow
def pytest_collection_modifyitems(config, items) -> None:
    _skip_cuda_without_a_gpu(items)
    slow_per_file: dict[str, int] = {}
    for item in items:
        file = str(item.fspath)
        slow_per_file[file] = slow_per_file.get(file, 0) + (item.get_closest_marker("slow") is not None)
    position = {file: i for i, file in enumerate(dict.fromkeys(str(item.fspath) for item in items))}
    items.sort(key=lambda item: (slow_per_file[str(item.fspath)] == 0, position[str(item.fspath)]))


def _skip_cuda_without_a_gpu(items) -> None:
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    for item in marked:
        item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU (scripts/gpu_check.sh runs these)"))
