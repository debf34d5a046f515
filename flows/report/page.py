"""Page assembly: the header, the sample-data banner and one section per chart, as a single
self-contained HTML file (inline CSS and SVG; no scripts, fonts, images or links to load)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from flows.report.charts import Chart
from flows.report.svg import esc

SAMPLE_BANNER = "SAMPLE DATA — synthetic prices, FX and fundamentals; not market data"

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f6f4; color: #222; font: 15px/1.45 "DejaVu Sans", "Liberation Sans", Arial,
  sans-serif; }
header, main, footer { max-width: 960px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 22px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 6px; }
h3 { font-size: 15px; margin: 18px 0 2px; }
.meta { color: #555; margin: 0 0 12px; }
.meta code { font-size: 13px; }
.banner { background: #b00020; color: #fff; font-weight: bold; font-size: 17px; padding: 12px 16px;
  border-radius: 4px; margin: 8px 0 6px; letter-spacing: 0.02em; }
.banner small { display: block; font-weight: normal; font-size: 13px; margin-top: 2px; }
.warning { background: #fff4ce; border: 1px solid #e0c060; padding: 10px 14px; border-radius: 4px; }
nav { font-size: 14px; margin: 8px 0 0; }
nav a { color: #2166ac; margin-right: 14px; }
section.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 16px 18px 12px; margin: 18px 0; }
.reading { font-weight: bold; color: #333; margin: 0 0 10px; }
figure { margin: 0; overflow-x: auto; }
svg.chart { display: block; max-width: 100%; height: auto; font-family: inherit; }
svg text { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
.multiples { display: flex; flex-wrap: wrap; gap: 6px 8px; }
.multiples svg.chart { flex: 0 0 auto; }
.legend { margin: 2px 0 6px; font-size: 13px; color: #444; }
.legend-item { margin-right: 16px; white-space: nowrap; }
.swatch { display: inline-block; width: 22px; margin-right: 6px; vertical-align: middle; }
.subtle { color: #777; font-weight: normal; }
.how, .source, .chart-note { font-size: 13px; color: #555; margin: 8px 0 0; }
.source code { font-size: 12px; }
.no-data { background: #f3f3f3; border: 1px dashed #bbb; padding: 18px; text-align: center; color: #555; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: flex-start; }
table.ranking { border-collapse: collapse; font-size: 12.5px; margin-top: 8px; }
table.ranking caption { text-align: left; color: #555; padding-bottom: 4px; }
table.ranking th, table.ranking td { border-bottom: 1px solid #eee; padding: 2px 10px 2px 0; text-align: right; }
table.ranking th:first-child, table.ranking td:first-child { text-align: left; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; }
table.prints { border-collapse: collapse; font-size: 13px; margin: 10px 0 0; }
table.prints caption { text-align: left; color: #555; padding-bottom: 4px; }
table.prints th, table.prints td { border-bottom: 1px solid #e5e5e5; padding: 3px 12px 3px 0; text-align: left; }
footer { color: #666; font-size: 13px; padding-bottom: 28px; }
/* per-point readouts (flows/report/svg.py _readouts): shown on hover, on a tap and on keyboard focus */
.hit .readout { visibility: hidden; pointer-events: none; }
.hit:hover .readout, .hit:focus .readout, .hit:focus-within .readout { visibility: visible; }
.hit:focus { outline: none; }
.hit:focus .hit-area { fill: rgba(33, 102, 172, 0.08); }
.hit-area { cursor: crosshair; }
/* narrow screens (phones, 400 px): charts keep their drawn size and scroll sideways, so no text is drawn
   smaller than 10 px; small multiples stack; tables wrap */
@media (max-width: 720px) {
  header, main, footer { padding: 0 10px; }
  section.chart { padding: 12px 10px 10px; }
  figure { overflow-x: auto; -webkit-overflow-scrolling: touch; }
  svg.chart { max-width: none; }
  .multiples { flex-direction: column; }
  .side-by-side { display: block; overflow-x: auto; }
  .side-by-side svg.chart { flex: none; }
  table.prints, table.ranking { display: block; overflow-x: auto; max-width: 100%; }
  table.prints caption, table.ranking caption { white-space: normal; }
  h1 { font-size: 22px; }
}
"""


def render_page(
    charts: Sequence[Chart],
    *,
    as_of: date | None,
    generated_at: datetime,
    run_id: str | None,
    is_sample: bool,
    database: Path,
    database_found: bool,
) -> str:
    """The report page as a complete HTML document."""
    as_of_text = as_of.isoformat() if as_of else "no data yet"
    meta = [
        f"As of <strong>{esc(as_of_text)}</strong> (latest trade date)",
        f"generated {esc(generated_at.strftime('%Y-%m-%d %H:%M %Z').strip())}",
    ]
    if run_id:
        meta.append(f"run <code>{esc(run_id)}</code>")
    banner = ""
    if is_sample:
        banner = (
            f'<div class="banner" id="sample-banner" role="alert">{esc(SAMPLE_BANNER)}'
            "<small>Every number from prices, FX or fundamentals below is synthetic (data_source = 'sample'). "
            "CPI is real BLS data; policy events are a curated calendar of real events.</small></div>"
        )
    warning = ""
    if not database_found:
        warning = (
            f'<p class="warning" id="no-warehouse">No published warehouse at <code>{esc(database)}</code> yet: '
            "run <code>gapwatch run</code> to build and publish the marts.</p>"
        )
    nav = " ".join(f'<a href="#chart-{esc(chart.chart_id)}">{esc(chart.title)}</a>' for chart in charts)
    sections = "\n".join(_section(chart) for chart in charts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gapwatch report">
<title>gapwatch report — as of {esc(as_of_text)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>gapwatch: China tech vs US AI leaders</h1>
<p class="meta">{" · ".join(meta)}</p>
{banner}{warning}
<nav>{nav}</nav>
</header>
<main>
{sections}
</main>
<footer>
<p>Read from the published marts (read-only): <code>{esc(database)}</code>. Returns are total returns in US dollars
from adjusted prices; formulas are documented per column in the marts' dbt docs.</p>
</footer>
</body>
</html>
"""


def _section(chart: Chart) -> str:
    state = "ready" if chart.has_data else "empty"
    return (
        f'<section class="chart" id="chart-{esc(chart.chart_id)}" data-chart="{esc(chart.chart_id)}" '
        f'data-state="{state}">\n'
        f"<h2>{esc(chart.title)}</h2>\n"
        f'<p class="reading">{esc(chart.reading)}</p>\n'
        f"<figure>{chart.body}</figure>\n"
        f'<p class="how"><strong>How to read it.</strong> {esc(chart.how_to_read)}</p>\n'
        f'<p class="source">Source: <code>{esc(chart.source)}</code></p>\n'
        "</section>"
    )
