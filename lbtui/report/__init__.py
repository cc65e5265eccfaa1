"""``lbtui report``: a run folder as one self-contained HTML page.

    run.json, manifest.jsonl, summary.json,  --load.py-->  RunFolder  --stats.py-->  numbers
    events.jsonl, metrics.csv, errors.log                      |
                                                   gantt.py, charts.py (SVG strings)
                                                               |
                                                page.py  -->  report.html (atomic write)

Figures are hand-written inline SVG: no dependency, no script, no network; they
print as vectors, and a bar's ``<title>`` gives a hover tooltip (why not
matplotlib or plotly: docs/decisions.md). Nothing here imports textual or rich:
a report runs where the run ran.
"""
