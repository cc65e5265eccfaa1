"""Alerts: tell someone when a long run ends, loses a device, stalls or slows down.

    runner ── observe(snapshot) each refresh ──▶ rules.py (pure: what deserves an alert)
           ── finish(summary) at the end    ──▶      │ Alert
                                                     ▼
                                       hooks.py: Notifier (its own thread) ──▶ --notify CMD
                                                                            └─▶ --notify-url URL (JSON POST)

A hook never blocks or fails the run: it runs on the notifier's thread with a
timeout, and its first failure is logged once. May import: ``errors``,
``control.snapshot`` and the standard library.
"""
