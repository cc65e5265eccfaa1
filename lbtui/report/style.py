"""The page's CSS: screen and print, including the SVG classes the figures use."""

from __future__ import annotations

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
       margin: 0 auto; max-width: 1240px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
.muted, .sub { color: #666; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 12px 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.status { font-weight: 600; padding: 1px 8px; border-radius: 3px; border: 1px solid; }
.ok { color: #0a6b2d; border-color: #0a6b2d; }
.warn { color: #8a5300; border-color: #8a5300; }
.bad { color: #a0151b; border-color: #a0151b; }
ul.notes { margin: 4px 0 0; padding-left: 18px; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e3e3; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
th { font-weight: 600; background: #f6f6f6; }
code, pre, td.err { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 6px 8px; margin: 4px 0 10px; }
figure { margin: 8px 0 18px; break-inside: avoid; }
figcaption { font-size: 13px; color: #444; margin-bottom: 2px; }
svg { width: 100%; height: auto; display: block; }
svg text { fill: #333; }
.legend { margin: 4px 0; font-size: 12px; }
.key { margin-right: 14px; white-space: nowrap; }
.key svg { display: inline; width: 14px; height: 10px; vertical-align: baseline; }
.grid { stroke: #e4e4e4; stroke-width: 1; }
.lane { stroke: #cfcfcf; stroke-width: 1; }
.u { fill: #4a7fb5; shape-rendering: crispEdges; }  /* no seams between 1-px bars */
.u.st { fill: #e69f00; }
.u.sp { fill: #8e63b5; }
.rt { fill: #c0161e; }
.pz { fill: #a9a9a9; }
.dr { fill: url(#hatch); opacity: 0.9; }
.so { fill: #f2c6c6; }
.gap { fill: #f2f2f2; stroke: #c8c8c8; stroke-dasharray: 3 3; }
text.gapl { fill: #777; font-size: 10px; }
text.band { fill: #444; font-weight: 600; }
.stop { stroke: #a0151b; stroke-width: 1.5; stroke-dasharray: 4 3; }
.mk { stroke: #fff; stroke-width: 0.8; }
.mk.fail { fill: #c0161e; }
.mk.retry { fill: #f0a020; }
.mk.death { fill: #111; }
.mk.stall { fill: #888; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; }
  details > summary { list-style: none; }
  table, figure, pre { break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  @page { margin: 12mm; }
}
"""
