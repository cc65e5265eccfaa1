"""Tasks whose output disk fails, for the run-fault tests (see tasks.py for the rest)."""

from __future__ import annotations

import errno
import os

from virnucpro_bridge.tasks.sim import SimTask

from .tasks import targeted


class DiskFullTask(SimTask):
    """Writing the targeted unit's result fails with ENOSPC while the file
    ``LBTUI_TEST_FULL`` exists: a full disk that the test can "free"."""

    name = "disk-full"

    def run_unit(self, unit, output, progress):
        if targeted(unit) and os.path.exists(os.environ["LBTUI_TEST_FULL"]):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(output))
        return super().run_unit(unit, output, progress)
