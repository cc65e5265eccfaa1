"""Alerts: tell someone when a long run ends, loses a device, stalls or slows down.

    runner ─▶ run_alerts.py: RunAlerts   observe(snapshot) each refresh; end(exit code)
                 │
                 ├─▶ rules.py (pure): which moments deserve an Alert
                 └─▶ hooks.py: Notifier, on its own thread ──▶ --notify CMD
                                                          └──▶ --notify-url URL (a JSON POST)

A hook never blocks or fails the run: it runs on the notifier's thread with a
timeout, and its first failure is logged once. May import: ``errors``,
``control.snapshot`` and the standard library (the coordinator only as a protocol).
"""
