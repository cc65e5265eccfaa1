"""Suite-wide ordering for parallel runs.

``make test`` hands whole test files to its workers (pytest-xdist,
``--dist loadfile``), in collection order. Left in directory order, files of
real runs and models (``tests/virnucpro``, ``tests/integration/ray``) came last, and one
core finished a long file alone while the other sat idle. Files with slow tests
go first and the many quick files fill the end, so the cores finish together.
Inside a file the order is unchanged; every worker sorts the same way.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)  # after the folders' own hooks have marked their tests slow
def pytest_collection_modifyitems(config, items) -> None:
    slow_per_file: dict[str, int] = {}
    for item in items:
        file = str(item.fspath)
        slow_per_file[file] = slow_per_file.get(file, 0) + (item.get_closest_marker("slow") is not None)
    position = {file: i for i, file in enumerate(dict.fromkeys(str(item.fspath) for item in items))}
    items.sort(key=lambda item: (slow_per_file[str(item.fspath)] == 0, position[str(item.fspath)]))
