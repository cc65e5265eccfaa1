"""summary.json's main_peak_rss_mb is lbtui's own peak, not its parent's."""

from __future__ import annotations

import subprocess
import sys

import pytest

PARENT_MB = 300

# The project runs on Linux (Slurm, CUDA); peak_rss_kib reads Linux's /proc/self/status.
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's ru_maxrss and VmHWM")


def test_the_peak_is_this_programs_not_what_ran_before_exec() -> None:
    ballast = bytearray(PARENT_MB * 1024 * 1024)  # touched: resident in the parent when it spawns
    code = ("import resource; from virnucpro_bridge.runner import peak_rss_kib; "
            "u = resource.getrusage(resource.RUSAGE_SELF); print(peak_rss_kib(u), u.ru_maxrss)")
    peak_kib, maxrss_kib = map(int, subprocess.run([sys.executable, "-c", code], check=True,
                                                   capture_output=True, text=True).stdout.split())
    del ballast
    # The trap is really set: ru_maxrss carries the parent's peak across fork and exec ...
    assert maxrss_kib >= PARENT_MB * 1024
    # ... and peak_rss_kib steps around it: the engine imported is tens of MB, not 300.
    assert peak_kib < PARENT_MB * 1024 / 2
