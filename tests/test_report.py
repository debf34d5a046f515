"""The HTML report: SVG helpers (pure), the page over empty and hostile marts, and the real
report of the session warehouse opened in headless Chromium (Debian's ``chromium`` through
Playwright's bundled driver; ``make test`` installs the browser).

The browser run saves a full-page screenshot to ``tests/artifacts/report.png`` (gitignored);
the docs' ``docs/pages/assets/report.png`` (shown in the README and on the Report page) is a copy of it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from conftest import Home
from flows.report import report_path, write_report
from flows.report.charts import CHART_IDS, build_charts, t_critical
from flows.report.data import ReportData
from flows.report.page import SAMPLE_BANNER
from flows.report.svg import (
    MINUS,
    BarGroup,
    LinearScale,
    ScatterPoint,
    Series,
    date_tick_label,
    date_ticks,
    esc,
    fmt_number,
    grouped_bar_chart,
    line_chart,
    line_path,
    nice_axis,
    nice_step,
    nice_ticks,
    scatter_chart,
)
from flows.settings import Settings, load_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HOSTILE = "<script>alert('x')</script> & \"quoted\""


def settings_for(home: Path) -> Settings:
    return load_settings(env={"GAPWATCH_HOME": str(home)})


def sections(page: str) -> dict[str, str]:
    """Each chart section's markup, by its data-chart id."""
    found = re.findall(r'<section class="chart" id="chart-([\w-]+)" data-chart="([\w-]+)".*?</section>', page, re.S)
    assert all(element_id == chart_id for element_id, chart_id in found)
    return {
        chart_id: match.group(0)
        for chart_id in CHART_IDS
        if (match := re.search(rf'<section [^>]*data-chart="{chart_id}".*?</section>', page, re.S))
    }


def external_references(page: str) -> list[str]:
    """Every src/href/url()/@import target that is not an in-page anchor."""
    targets = re.findall(r"""\b(?:src|href|xlink:href|srcset|action|poster)\s*=\s*["']?([^"'\s>]*)""", page, re.I)
    targets += re.findall(r"""url\(\s*["']?([^"')]*)""", page, re.I)
    targets += re.findall(r"""@import\s+["']?([^"';\s]*)""", page, re.I)
    return [target for target in targets if not target.startswith("#")]


# ---------------------------------------------------------------------------------------------
# SVG helpers


def test_nice_steps_and_ticks_are_round_and_cover_the_domain() -> None:
    assert nice_step(100, 5) == 20
    assert nice_step(573, 3) == 200
    assert nice_step(0.9, 6) == pytest.approx(0.2)
    assert nice_ticks(0, 100, 5) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-0.27, 0.33, 6) == [-0.2, -0.1, 0.0, 0.1, 0.2, 0.3]
    domain, ticks = nice_axis(-270.4, 241.7, 6)
    assert domain == (-300, 300)
    assert ticks == [-300, -200, -100, 0, 100, 200, 300]
    assert nice_axis(-54, 519, 3) == ((-200, 600), [-200, 0, 200, 400, 600])
    # a flat series still gets an axis
    domain, ticks = nice_axis(5, 5, 5)
    assert domain[0] < 5 < domain[1] and len(ticks) >= 2


def test_linear_scale_maps_ends_and_flips_for_y() -> None:
    x = LinearScale((0, 10), (50, 150))
    assert (x(0), x(5), x(10)) == (50, 100, 150)
    y = LinearScale((-1, 1), (300, 100))  # SVG y grows downwards
    assert (y(-1), y(0), y(1)) == (300, 200, 100)
    assert LinearScale((3, 3), (0, 10))(3) == 5


def test_date_ticks_pick_whole_months_or_years() -> None:
    years = date_ticks(date(2022, 1, 3), date(2026, 11, 20), 8)
    assert years == [date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1), date(2026, 1, 1)]
    assert [date_tick_label(tick, years) for tick in years] == ["2023", "2024", "2025", "2026"]
    quarters = date_ticks(date(2025, 1, 1), date(2025, 12, 31), 5)
    assert quarters == [date(2025, 1, 1), date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1)]
    assert date_tick_label(quarters[1], quarters) == "Apr 2025"


def test_escaping_and_number_formatting() -> None:
    assert esc("<b>&\"'</b>") == "&lt;b&gt;&amp;&quot;&#x27;&lt;/b&gt;"
    assert fmt_number(-245.2) == f"{MINUS}245"
    assert fmt_number(216.6, decimals=1, signed=True, suffix="%") == "+216.6%"
    assert fmt_number(-0.04, decimals=1, signed=True) == "0.0"  # no "-0.0"
    assert t_critical(9) == pytest.approx(2.262)
    assert t_critical(500) == pytest.approx(1.96)


def test_a_null_breaks_the_line_instead_of_being_interpolated() -> None:
    assert line_path([(0, 0), (1, 1), None, (3, 3), (4, 4)]) == "M0,0L1,1M3,3L4,4"
    assert line_path([(0, 0), None, (2, 2), None]) == "M0,0h0.1M2,2h0.1"  # lone points become dots
    assert line_path([None, None]) == ""
    months = [date(2025, month, 1) for month in range(8, 13)]
    svg = line_chart(
        [Series("cpi <yoy>", list(zip(months, [2.9, 3.0, None, 2.7, 2.6], strict=True)), "#d95f02")],
        title="CPI",
        x_label="reference month",
        y_label="% change from a year earlier",
        y_format=lambda value: f"{value:g}%",
    )
    (path,) = re.findall(r'<path class="mark line" d="([^"]+)"', svg)
    assert path.count("M") == 2 and path.count("L") == 2  # two segments around the missing October
    assert "cpi &lt;yoy&gt;" in svg and "<yoy>" not in svg
    assert "% change from a year earlier" in svg and "reference month" in svg


def test_line_chart_refuses_to_draw_nothing() -> None:
    with pytest.raises(ValueError, match="needs at least one non-null point"):
        line_chart(
            [Series("empty", [(date(2025, 1, 1), None)], "#000")],
            title="t",
            x_label="x",
            y_label="y",
            y_format=str,
        )


def test_scatter_labels_every_point_and_escapes_them() -> None:
    points = [
        ScatterPoint(1.2, -0.5, "BABA", "#c0392b"),
        ScatterPoint(0.8, 0.9, HOSTILE, "#2166ac", tip="tip <b>"),
        ScatterPoint(-1.0, -0.4, "0700.HK", "#c0392b"),
    ]
    svg = scatter_chart(points, title="gap", x_label="investment z", y_label="results z", diagonal_label="gap = 0")
    assert svg.count('class="mark point"') == 3
    assert len(re.findall(r'class="point-label"', svg)) == 3
    assert "<script>" not in svg and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in svg
    assert "tip &lt;b&gt;" in svg
    assert 'stroke-dasharray="6 4"' in svg  # the diagonal


def test_grouped_bars_skip_missing_values() -> None:
    svg = grouped_bar_chart(
        [["2025-10-24", "CPI"], ["2025-12-10", "FOMC"]],
        [
            BarGroup("China tech", "#c0392b", [-0.7, None], labels=["t −1.5", None]),
            BarGroup("US AI leaders", "#2166ac", [1.0, 0.9], tips=["a & b", None]),
        ],
        title="CAR",
        x_label="policy event",
        y_label="mean CAR, %",
        y_format=lambda value: f"{value:g}%",
    )
    assert svg.count('class="mark bar"') == 3
    assert "n/a" in svg and "t −1.5" in svg and "a &amp; b" in svg


# ---------------------------------------------------------------------------------------------
# the page without data, and with hostile data


def test_without_a_published_warehouse_every_chart_says_no_data_yet(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = write_report(settings)
    assert path == report_path(settings) == tmp_path / "report" / "index.html"
    page = path.read_text()
    found = sections(page)
    assert list(found) == list(CHART_IDS)
    assert all('data-state="empty"' in section and "No data yet" in section for section in found.values())
    assert 'id="no-warehouse"' in page and SAMPLE_BANNER not in page
    assert list(path.parent.iterdir()) == [path]  # the temporary file was renamed, not left behind


def test_charts_without_values_say_so(tmp_path: Path) -> None:
    days = [date(2026, 11, 19), date(2026, 11, 20)]
    data = ReportData(
        database=tmp_path / "gapwatch.duckdb",
        database_found=True,
        baskets=pd.DataFrame(
            {
                "series_id": ["basket:china_tech"] * 2,
                "series_type": ["basket"] * 2,
                "trade_date": days,
                "cum_return_usd": [None, None],
            }
        ),
        inflation=pd.DataFrame(
            {
                "month_date": [date(2025, 10, 1)],
                "is_published": [False],
                "release_date": [None],
                "is_release_date_estimated": [None],
                "headline_yoy_pct": [None],
                "core_yoy_pct": [None],
                "headline_yoy_pct_1dp": [None],
                "core_yoy_pct_1dp": [None],
            }
        ),
    )
    charts = build_charts(data)
    assert [chart.chart_id for chart in charts] == list(CHART_IDS)
    assert not any(chart.has_data for chart in charts)
    assert all(chart.body.startswith('<p class="no-data">') for chart in charts)


def test_empty_marts_give_no_data_notes_not_a_crash(warehouse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    published = tmp_path / "published" / "gapwatch.duckdb"
    published.parent.mkdir()
    connection = duckdb.connect(str(published))
    try:
        connection.execute(f"attach '{warehouse.path / 'published' / 'gapwatch.duckdb'}' as source (read_only)")
        connection.execute("create schema marts")
        for (mart,) in connection.execute(
            "select table_name from information_schema.tables where table_catalog = 'source' and table_schema = 'marts'"
        ).fetchall():
            connection.execute(f"create table marts.{mart} as select * from source.marts.{mart} limit 0")
    finally:
        connection.close()
    page = write_report(settings_for(tmp_path)).read_text()
    found = sections(page)
    assert list(found) == list(CHART_IDS)
    assert all("No data yet" in section for section in found.values())
    assert "no-warehouse" not in page and SAMPLE_BANNER not in page
    assert "As of <strong>no data yet</strong>" in page


def test_strings_from_the_data_are_escaped(warehouse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    published = tmp_path / "published" / "gapwatch.duckdb"
    published.parent.mkdir()
    shutil.copyfile(warehouse.path / "published" / "gapwatch.duckdb", published)
    connection = duckdb.connect(str(published))
    try:
        connection.execute(
            "update marts.policy_event_group_impact set title = ? "
            "where event_date = (select max(event_date) from marts.policy_event_group_impact)",
            [HOSTILE],
        )
        connection.execute("update marts.execution_gap set ticker = ? where ticker = 'BABA'", [HOSTILE])
    finally:
        connection.close()
    page = write_report(settings_for(tmp_path), run_id="<run & id>").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in sections(page)["policy-car"]
    assert "&lt;script&gt;" in sections(page)["execution-gap"]
    assert "&lt;run &amp; id&gt;" in page


def test_signal_chart_marks_significance_and_the_sample_caveat(tmp_path: Path) -> None:
    def row(group: str, horizon: str, sessions: int, ic: float, t_stat: float | None, source: str) -> dict[str, Any]:
        return {
            "group_name": group,
            "horizon": horizon,
            "horizon_sessions": sessions,
            "known_at": datetime(2026, 11, 16, 21),
            "cross_section_count": 19,
            "observation_count": 190,
            "rank_ic_mean": ic,
            "rank_ic_t_stat_newey_west": t_stat,
            "newey_west_lag": 1,
            "rank_ic_hit_rate": 0.25,
            "tercile_spread_mean_pp": -4.5,
            "data_source": source,
        }

    def chart(source: str):  # type: ignore[no-untyped-def]
        frame = pd.DataFrame(
            [
                row("china_tech", "return_3m", 63, -0.21, -2.5, source),  # |t| > 2.101 (18 df): significant
                row("us_ai_leader", "return_3m", 63, 0.05, 0.4, source),
                row("pooled", "return_3m", 63, -0.08, None, source),
            ]
        )
        data = ReportData(database=tmp_path / "gapwatch.duckdb", database_found=True, signal=frame)
        return {chart.chart_id: chart for chart in build_charts(data)}["signal-ic"]

    sample = chart("sample")
    assert sample.has_data and sample.body.count('class="mark bar"') == 3
    assert "t −2.5*" in sample.body and "t 0.4<" in sample.body and "t n/a" in sample.body
    assert 'id="signal-sample-note"' in sample.body and "say nothing about markets" in sample.body
    pooled = "Pooled, the execution gap's mean rank IC with the 3-month excess return is −0.080 (Newey-West t = n/a"
    assert sample.reading.startswith(pooled)
    assert "1 of 3 group-horizon means is significant at 5%. Sample data" in sample.reading
    live = chart("yahoo,sec_edgar")
    assert "signal-sample-note" not in live.body and "Sample data" not in live.reading


# ---------------------------------------------------------------------------------------------
# the real report in a real browser


@pytest.fixture(scope="module")
def report(warehouse) -> Path:  # type: ignore[no-untyped-def]
    """The report of the session warehouse, written where the daily run writes it."""
    generated_at = datetime(2026, 11, 20, 23, 45, tzinfo=UTC)
    return write_report(settings_for(warehouse.path), run_id="test-report-run", generated_at=generated_at)


@dataclass
class BrowserRun:
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    charts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    screenshot: Path | None = None
    browser_version: str = ""


CHART_METRICS_JS = """(chartId) => {
  const section = document.querySelector(`[data-chart="${chartId}"]`);
  return Array.from(section.querySelectorAll("svg")).map((svg) => {
    const box = svg.getBoundingClientRect();
    const marks = Array.from(svg.querySelectorAll("path.mark, circle.mark, rect.mark")).filter((mark) => {
      const markBox = mark.getBBox();
      return markBox.width > 0 || markBox.height > 0;
    });
    return {
      width: box.width,
      height: box.height,
      marks: marks.length,
      paths: svg.querySelectorAll("path.mark").length,
      circles: svg.querySelectorAll("circle.mark").length,
      rects: svg.querySelectorAll("rect.mark").length,
    };
  });
}"""


@pytest.fixture(scope="module")
def browser_run(report: Path) -> BrowserRun:
    """Open the report in headless Chromium once: console, errors, requests, chart boxes, screenshot."""
    if not CHROMIUM.exists():
        pytest.fail(f"Debian's chromium is not installed at {CHROMIUM}: run `make browser` (`make test` does).")
    from playwright.sync_api import sync_playwright

    run = BrowserRun()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            run.browser_version = browser.version
            context = browser.new_context(viewport={"width": 1100, "height": 900}, service_workers="block")
            page = context.new_page()
            page.on("console", lambda message: run.console.append((message.type, message.text)))
            page.on("pageerror", lambda error: run.page_errors.append(str(error)))
            page.on("request", lambda request: run.requests.append(request.url))
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")
            for chart_id in CHART_IDS:
                run.charts[chart_id] = page.evaluate(CHART_METRICS_JS, chart_id)
                run.texts[chart_id] = page.locator(f'[data-chart="{chart_id}"]').inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            run.screenshot = ARTIFACTS / "report.png"
            page.screenshot(path=str(run.screenshot), full_page=True)
            context.close()
        finally:
            browser.close()
    return run


def test_report_is_written_where_the_daily_run_puts_it(report: Path, warehouse) -> None:  # type: ignore[no-untyped-def]
    assert report == warehouse.path / "report" / "index.html"
    assert not [name for name in report.parent.iterdir() if name != report]


def test_the_daily_run_and_the_cli_write_the_report(warehouse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from flows.cli import app

    assert warehouse.summary.report_path == warehouse.path / "report" / "index.html"
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    target = tmp_path / "elsewhere.html"
    with Home(home):
        result = CliRunner().invoke(app, ["report", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(target)
    assert 'data-chart="spread"' in target.read_text()


def test_report_is_self_contained(report: Path) -> None:
    page = report.read_text()
    assert external_references(page) == []
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    for tag in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@font-face"):
        assert tag not in page.lower(), tag
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page


def test_report_has_the_six_charts_the_header_and_the_sample_banner(report: Path) -> None:
    page = report.read_text()
    found = sections(page)
    assert list(found) == list(CHART_IDS)
    for chart_id, section in found.items():
        assert 'data-state="ready"' in section, chart_id
        assert re.search(r"<h2>[^<]+</h2>", section), chart_id
        assert re.search(r'<p class="reading">[^<]{30,}</p>', section), chart_id
        assert section.count("<svg") >= 1 and 'class="axis-label"' in section, chart_id
    assert f'id="sample-banner" role="alert">{SAMPLE_BANNER}' in page
    assert "As of <strong>2026-11-20</strong>" in page
    assert "generated 2026-11-20 23:45 UTC" in page and "test-report-run" in page


def test_readings_are_computed_from_the_marts(report: Path, warehouse) -> None:  # type: ignore[no-untyped-def]
    found = sections(report.read_text())
    ((spread, china, us),) = warehouse.query(
        """select
               max(cum_return_usd) filter (where series_id = 'spread:china_tech_minus_us_ai_leader'),
               max(cum_return_usd) filter (where series_id = 'basket:china_tech'),
               max(cum_return_usd) filter (where series_id = 'basket:us_ai_leader'),
           from marts.relative_performance where trade_date = '2026-11-20'""",
        published=True,
    )
    assert spread < 0  # the story the sample tells
    reading = re.search(r'<p class="reading">([^<]+)</p>', found["spread"]).group(1)  # type: ignore[union-attr]
    assert f"trails them by {abs(100 * spread):.0f} points" in reading
    assert fmt_number(100 * china, decimals=1, signed=True, suffix="%") in reading
    assert fmt_number(100 * us, decimals=1, signed=True, suffix="%") in reading
    # the execution gap names the sample's three spenders without results, largest first
    assert re.search(r"BABA \([\d.]+\), BIDU \([\d.]+\), 1024\.HK \([\d.]+\)", found["execution-gap"])
    assert "quarter ending 2026-09-30" in found["execution-gap"]
    # CPI: the latest print and the October 2025 gap
    ((month, headline, release),) = warehouse.query(
        "select month_date, headline_yoy_pct_1dp, release_date from marts.inflation "
        "where is_published order by month_date desc limit 1",
        published=True,
    )
    assert f"rose {headline:.1f}% in the year to {month:%B %Y} (released {release.isoformat()}" in found["cpi-yoy"]
    assert "October 2025" in found["cpi-yoy"] and "Oct 2025 not published" in found["cpi-yoy"]


def test_cpi_line_breaks_at_october_2025(report: Path) -> None:
    cpi = sections(report.read_text())["cpi-yoy"]
    for path in re.findall(r'<path class="mark line" d="([^"]+)"', cpi):
        assert path.count("M") == 2, "headline and core each break once, at the unpublished month"


def test_report_opens_in_chromium_without_errors_or_network(browser_run: BrowserRun, report: Path) -> None:
    assert browser_run.browser_version, "no browser version: Chromium did not start"
    errors = [text for kind, text in browser_run.console if kind == "error"]
    assert errors == [], errors
    assert browser_run.page_errors == []
    assert browser_run.requests == [report.as_uri()]


def test_every_chart_renders_with_drawn_marks(browser_run: BrowserRun, warehouse) -> None:  # type: ignore[no-untyped-def]
    for chart_id in CHART_IDS:
        svgs = browser_run.charts[chart_id]
        assert svgs, f"{chart_id}: no SVG"
        for svg in svgs:
            assert svg["width"] > 100 and svg["height"] > 100, (chart_id, svg)
            assert svg["marks"] > 0, (chart_id, svg)
    ((companies,),) = warehouse.query(
        "select count(distinct ticker) from marts.execution_gap where calendar_quarter_end = '2026-09-30'",
        published=True,
    )
    charts = browser_run.charts
    assert len(charts["ticker-vs-benchmark"]) == 19  # one panel per company
    assert all(svg["paths"] == 2 for svg in charts["ticker-vs-benchmark"])  # the company and its benchmark
    assert charts["execution-gap"][0]["circles"] == companies
    assert charts["policy-car"][0]["rects"] == 12  # 6 events x 2 groups
    assert charts["spread"][0]["paths"] == 3
    assert charts["signal-ic"][0]["rects"] == 15  # 5 horizons x (2 groups + pooled)
    assert "near zero is expected" in browser_run.texts["signal-ic"]
    for ticker in ("BABA", "BIDU", "1024.HK", "NVDA"):
        assert ticker in browser_run.texts["execution-gap"]
    assert "SAMPLE DATA" not in browser_run.texts["cpi-yoy"]


def test_screenshot_is_saved_as_an_artifact(browser_run: BrowserRun) -> None:
    assert browser_run.screenshot is not None and browser_run.screenshot.is_file()
    header = browser_run.screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert width == 1100 and height > 2000  # full page, not just the viewport


# ---------------------------------------------------------------------------------------------
# reading the report on any screen: per-point readouts (hover, tap, keyboard), 400 px and 1,400 px

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "pages" / "assets"

_SMALLEST_TEXT = """() => {
  let smallest = [1e9, ''];
  for (const text of document.querySelectorAll('svg.chart text')) {
    const svg = text.ownerSVGElement;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const size = parseFloat(text.getAttribute('font-size') || '12') * scale;
    if (size < smallest[0]) smallest = [size, text.textContent];
  }
  return smallest;
}"""

# every marker label's box against every line's drawn points (sampled along the path) and every data point
_LABELS_ON_DATA = """() => {
  const hits = [];
  for (const label of document.querySelectorAll('svg.chart .marker-label')) {
    const box = label.getBoundingClientRect();
    const inside = (x, y) => x >= box.left && x <= box.right && y >= box.top && y <= box.bottom;
    const svg = label.ownerSVGElement;
    for (const path of svg.querySelectorAll('path.mark.line')) {
      const length = path.getTotalLength(), matrix = path.getScreenCTM();
      for (let at = 0; at <= length; at += 2) {
        const point = path.getPointAtLength(at).matrixTransform(matrix);
        if (inside(point.x, point.y)) { hits.push([label.textContent, 'line']); break; }
      }
    }
    for (const dot of svg.querySelectorAll('circle.mark.point')) {
      const r = dot.getBoundingClientRect();
      if (inside((r.left + r.right) / 2, (r.top + r.bottom) / 2)) hits.push([label.textContent, 'point']);
    }
  }
  return hits;
}"""


@pytest.mark.parametrize("width", [400, 1400])
def test_the_report_reads_on_a_phone_and_a_desktop(report: Path, width: int) -> None:
    """At 400 and 1,400 px: no chart text drawn below 10 px, the page itself never scrolls sideways (a wide chart
    scrolls in its own frame), marker labels never cover data, and every line chart answers a pointer, a tap
    and the keyboard with the nearest date and each series' value there. Screenshots go to the docs."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"Debian's chromium is not installed at {CHROMIUM}: run `make browser` (`make test` does).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": 900}, has_touch=width == 400, is_mobile=width == 400
            )
            page = context.new_page()
            page.goto(report.as_uri(), wait_until="load")
            size, text = page.evaluate(_SMALLEST_TEXT)
            assert size >= 10 - 1e-6, f"'{text}' is drawn at {size:.1f} px at {width} px wide"
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            assert page.evaluate(_LABELS_ON_DATA) == []
            for caption in page.locator("table caption").all():  # not clipped: its text fits its box
                assert caption.evaluate("c => c.scrollWidth <= c.clientWidth + 1"), caption.inner_text()
            page.screenshot(path=str(SCREENSHOTS / f"report-{width}.png"))
            charts = page.locator("svg.line-chart")
            assert charts.count() >= 3  # the spread, 19 company panels, CPI
            for index in range(charts.count()):
                chart = charts.nth(index)
                strips = chart.locator(".hit")
                assert strips.count() >= 10, chart.get_attribute("class")
                strip = strips.nth(strips.count() // 2)
                readout = strip.locator(".readout")
                assert not readout.is_visible()
                area = strip.locator(".hit-area")
                area.scroll_into_view_if_needed()
                if width == 400:
                    area.tap()
                else:
                    area.hover()
                assert readout.is_visible()
                label = strip.get_attribute("aria-label") or ""
                day = label.split(":", 1)[0]
                shown = readout.evaluate("g => [...g.querySelectorAll('text')].map(t => t.textContent)")
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) and shown[0] == day and len(shown) >= 2
                assert ": " in label.split(": ", 1)[1]  # series: value
                if index == 0 and width == 1400:
                    page.screenshot(path=str(SCREENSHOTS / "report-hover-1400.png"))
                if index == 0 and width == 400:
                    page.screenshot(path=str(SCREENSHOTS / "report-tap-400.png"))
            # the keyboard: Tab reaches a readout strip, and focus shows it
            page.mouse.move(0, 0)
            page.locator("nav a").last.focus()
            for _ in range(60):
                page.keyboard.press("Tab")
                if page.evaluate("() => document.activeElement.classList.contains('hit')"):
                    break
            focused = page.evaluate(
                "() => [document.activeElement.classList.contains('hit'), "
                "getComputedStyle(document.activeElement.querySelector('.readout')).visibility]"
            )
            assert focused == [True, "visible"]
        finally:
            browser.close()


def test_old_policy_events_are_called_old_not_latest(report: Path) -> None:
    """The curated calendar ends in December 2025: a report as of 2026-11-20 says its "latest" events are the
    calendar's, dated that long before, instead of presenting them as the latest news."""
    page = report.read_text()
    section = page.split('id="chart-policy-car"')[1].split("</section>")[0]
    assert "The newest event here is dated 2025-12-18, 337 days before the as-of date 2026-11-20" in section
