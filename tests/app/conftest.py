from __future__ import annotations

import os
import time

os.environ["TZ"] = "UTC"  # the log shows local time of day; pin it for stable screens
time.tzset()
