"""``lbtui report``: a run folder as one self-contained HTML page.

    run.json, manifest.jsonl, summary.json,  --load.py-->  RunFolder  --stats.py-->  numbers
    events.jsonl, metrics.csv, errors.log                      |
                                                   gantt.py, charts.py (SVG strings)
                                                               |
                                                page.py  -->  report.html (atomic write)

Figures are hand-written inline SVG. matplotlib would add a heavy dependency
and draws 10,000 Gantt bars as 10,000 artists (seconds each figure); plotly
inlines about 3.5 MB of JavaScript into every page and needs a browser's JS
to show anything, also on paper. Plain SVG needs no dependency, no script and
no network, prints as vectors, and a bar's ``<title>`` gives a hover tooltip.
For 10,000 units the page is about 1.4 MB and the command takes 1-2 s
(``benchmarks/bench_report.py`` prints the numbers).

Nothing here imports textual or rich: a report runs where the run ran.
"""
