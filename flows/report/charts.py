"""The report's six charts: each turns frames from :mod:`flows.report.data` into a titled
SVG (drawn with :mod:`flows.report.svg`) and a one-line reading computed from the same data.

Markup in :attr:`Chart.body` is complete and escaped; readings and titles are plain text
(the page escapes them).
"""

from __future__ import annotations

import statistics
import textwrap
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from flows.report.data import ReportData, records
from flows.report.svg import (
    MINUS,
    SCATTER_MAX_LABELS,
    Band,
    BarGroup,
    LegendItem,
    Marker,
    ScatterPoint,
    Series,
    esc,
    fmt_number,
    grouped_bar_chart,
    line_chart,
    nice_domain,
    scatter_chart,
)

GROUP_LABELS: dict[str, str] = {
    "china_tech": "China tech",
    "us_ai_leader": "US AI leaders",
    "benchmark": "Benchmarks",
}
GROUP_MEMBERS: dict[str, str] = {"china_tech": "China tech names", "us_ai_leader": "US AI leaders"}
GROUP_COLORS: dict[str, str] = {
    "china_tech": "#c0392b",
    "us_ai_leader": "#2166ac",
    "benchmark": "#777777",
}
PALETTE: tuple[str, ...] = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
SPREAD_ID = "spread:china_tech_minus_us_ai_leader"
SPREAD_COLOR = "#4a1486"
BENCHMARK_COLOR = "#8c8c8c"
HEADLINE_COLOR = "#d95f02"
CORE_COLOR = "#1b7a8c"
MONTH_FORMAT = "%b %Y"
LONG_MONTH_FORMAT = "%B %Y"

# Two-sided 5 % critical values of Student's t for 1..30 degrees of freedom.
T_CRITICAL_5PCT: tuple[float, ...] = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


@dataclass(frozen=True)
class Chart:
    """One section of the report."""

    chart_id: str  # stable: the section's id is ``chart-<chart_id>``, its data-chart attribute ``<chart_id>``
    title: str
    reading: str  # one line computed from the data (or why there is nothing to show)
    body: str  # escaped HTML: the SVG(s), or a "no data yet" note
    source: str  # the mart and columns charted
    how_to_read: str
    has_data: bool = True


def group_label(group: str | None) -> str:
    return GROUP_LABELS.get(group or "", group or "unknown group")


def group_color(group: str | None, seen: Sequence[str] = ()) -> str:
    if group in GROUP_COLORS:
        return GROUP_COLORS[group]
    others = [name for name in seen if name not in GROUP_COLORS]
    position = others.index(group) if group in others else 0
    return PALETTE[position % len(PALETTE)]


def pct(value: float, decimals: int = 0) -> str:
    """A percentage for an axis or a label: ``+25%``, ``−3%``."""
    return fmt_number(value, decimals=decimals, signed=value != 0, suffix="%")


def points(value: float, decimals: int = 0) -> str:
    return fmt_number(value, decimals=decimals, signed=True)


def t_critical(degrees_of_freedom: int) -> float:
    """Two-sided 5 % critical value of Student's t (1.96 beyond 120 degrees of freedom)."""
    if degrees_of_freedom < 1:
        return float("inf")
    if degrees_of_freedom <= len(T_CRITICAL_5PCT):
        return T_CRITICAL_5PCT[degrees_of_freedom - 1]
    return 2.0 if degrees_of_freedom <= 120 else 1.96


def no_data(mart: str, detail: str) -> str:
    return f'<p class="no-data">No data yet: {esc(mart)} {esc(detail)}. Run <code>gapwatch run</code> first.</p>'


def _empty(chart_id: str, title: str, mart: str, detail: str, source: str, how_to_read: str) -> Chart:
    return Chart(
        chart_id=chart_id,
        title=title,
        reading=f"No data yet: {mart} {detail}.",
        body=no_data(mart, detail),
        source=source,
        how_to_read=how_to_read,
        has_data=False,
    )


def _html_legend(items: Sequence[LegendItem]) -> str:
    spans = []
    for item in items:
        style = "dashed" if item.dash else "solid"
        spans.append(
            f'<span class="legend-item"><span class="swatch" style="border-top: 3px {style} {esc(item.color)}">'
            f"</span>{esc(item.name)}</span>"
        )
    return f'<p class="legend">{"".join(spans)}</p>'


# How a thinned series' points are spaced (``granularity`` of the frames in :mod:`flows.report.data`).
POINTS_BY_GRANULARITY: dict[str, str] = {
    "day": "daily points",
    "week": "weekly points",
    "month": "monthly points",
    "quarter": "quarterly points",
    "year": "yearly points",
    "decade": "one point per decade",
    "century": "one point per century",
}


def points_label(granularity: str | None) -> str:
    """``weekly points`` for a series thinned to weeks (``daily points`` when not thinned)."""
    return POINTS_BY_GRANULARITY.get(granularity or "day", f"one point per {granularity}")


def _points_note(granularities: Sequence[str | None], *, max_points: int, per: str) -> str:
    """The chart note on how its lines were thinned, e.g. ``Monthly points: the last trading day of each month ...``."""
    counts = Counter(granularity or "day" for granularity in granularities)
    if not counts:
        return ""
    if set(counts) == {"day"}:
        spacing, kept = "Daily points", "every trading day"
    elif len(counts) == 1:
        (granularity,) = counts
        spacing = points_label(granularity)
        kept = (
            f"the last trading day of each {granularity}, plus the first day and the base date; the latest day "
            "is always shown"
        )
    else:
        spacing = ", ".join(
            f"{points_label(granularity)} for {count} {per}{'' if count == 1 else 's'}"
            for granularity, count in counts.most_common()
        )
        spacing += " (by each one's span)"
        kept = (
            "the last trading day of each period, plus the first day and the base date; the latest day is always shown"
        )
    return (
        f'<p class="chart-note">{esc(spacing[0].upper() + spacing[1:])}: {esc(kept)}. Each {esc(per)} is drawn '
        f"with at most {max_points:,} points whatever the length of the history (the finest spacing that fits: "
        "daily when the history is short); the mart keeps every trading day.</p>"
    )


# ---------------------------------------------------------------------------------------------
# 1. the basket spread


SPREAD_HOW_TO_READ = (
    "Cumulative US-dollar total return of each equal-weight basket since the base date (0% there), and "
    "their difference in return points (China tech minus US AI leaders). A falling purple line means the "
    "China basket is losing ground; −100 points means it is 100 percentage points behind."
)


def spread_chart(data: ReportData) -> Chart:
    title = "China tech vs US AI leaders: basket returns and their spread"
    source = (
        "marts.relative_performance — cum_return_usd of series_type 'basket' and 'spread', "
        f"at most {data.basket_max_points:,} points per line"
    )
    rows = records(data.baskets)
    if not any(row["cum_return_usd"] is not None for row in rows):
        return _empty(
            "spread", title, "marts.relative_performance", "has no basket returns", source, SPREAD_HOW_TO_READ
        )
    by_series: dict[str, list[tuple[date, float | None]]] = defaultdict(list)
    granularities: dict[str, str | None] = {}
    for row in rows:
        value = row["cum_return_usd"]
        by_series[row["series_id"]].append((row["trade_date"], None if value is None else 100 * value))
        granularities[row["series_id"]] = row.get("granularity")
    order = [SPREAD_ID, "basket:china_tech", "basket:us_ai_leader"]
    order += sorted(name for name in by_series if name not in order)
    names = {
        SPREAD_ID: f"Spread: China tech {MINUS} US AI leaders (points)",
        "basket:china_tech": "China tech basket",
        "basket:us_ai_leader": "US AI leaders basket",
    }
    colors = {SPREAD_ID: SPREAD_COLOR, **{f"basket:{group}": color for group, color in GROUP_COLORS.items()}}
    series = [
        Series(
            name=names.get(series_id, series_id),
            points=by_series[series_id],
            color=colors.get(series_id, PALETTE[index % len(PALETTE)]),
            width=2.6 if series_id == SPREAD_ID else 1.8,
            label_last=True,
        )
        for index, series_id in enumerate(order)
        if series_id in by_series
    ]
    spacing = sorted({points_label(granularity) for granularity in granularities.values()})
    svg = line_chart(
        series,
        title=title,
        x_label=f"trade date ({', '.join(spacing)})",
        y_label="cumulative USD total return, % (spread: points)",
        y_format=pct,
        last_format=lambda value: points(value),
    )
    return Chart(
        chart_id="spread",
        title=title,
        reading=_spread_reading(by_series),
        body=svg + _points_note(list(granularities.values()), max_points=data.basket_max_points, per="line"),
        source=source,
        how_to_read=SPREAD_HOW_TO_READ,
    )


def _last(values: Sequence[tuple[date, float | None]]) -> tuple[date, float] | None:
    for day, value in reversed(values):
        if value is not None:
            return day, value
    return None


def _first(values: Sequence[tuple[date, float | None]]) -> tuple[date, float] | None:
    for day, value in values:
        if value is not None:
            return day, value
    return None


def _spread_reading(by_series: dict[str, list[tuple[date, float | None]]]) -> str:
    spread = by_series.get(SPREAD_ID, [])
    china = _last(by_series.get("basket:china_tech", []))
    us = _last(by_series.get("basket:us_ai_leader", []))
    last, first = _last(spread), _first(spread)
    if last is None or first is None or china is None or us is None:
        return "Not enough data for the spread yet: it needs both baskets on the same days."
    direction = "trails" if last[1] < 0 else "leads"
    return (
        f"Since {first[0].isoformat()} the China tech basket returned {pct(china[1], 1)} in US dollars and the "
        f"US AI leaders {pct(us[1], 1)}: the China basket {direction} them by {abs(last[1]):.0f} points "
        f"(as of {last[0].isoformat()})."
    )


# ---------------------------------------------------------------------------------------------
# 2. each company against its benchmark


TICKERS_HOW_TO_READ = (
    "One panel per company: its cumulative US-dollar total return (solid) and its benchmark's over the same "
    "dates (dashed grey): KWEB for US-listed China ADRs, ^HSI for Hong Kong listings, QQQ for the US AI "
    "leaders. Panels of a group share one y-axis, so they compare; the heading gives both latest values. A "
    "solid line below the dashed one means the stock is behind its benchmark."
)


def ticker_chart(data: ReportData) -> Chart:
    title = "Cumulative USD return per company against its benchmark"
    source = (
        "marts.relative_performance — cum_return_usd and benchmark_cum_return_usd of series_type 'security' "
        f"(non-benchmark groups), at most {data.security_max_points:,} points per company"
    )
    rows = records(data.securities)
    if not rows:
        detail = "has no company rows"
        return _empty("ticker-vs-benchmark", title, "marts.relative_performance", detail, source, TICKERS_HOW_TO_READ)
    panels: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        panels[row["group_name"]][row["ticker"]].append(row)
    groups = [group for group in GROUP_COLORS if group in panels] + sorted(g for g in panels if g not in GROUP_COLORS)
    sections, summaries = [], []
    granularities: list[str | None] = []
    for group in groups:
        color = group_color(group, groups)
        tickers = panels[group]
        values = [
            100 * value
            for ticker_rows in tickers.values()
            for row in ticker_rows
            for value in (row["cum_return_usd"], row["benchmark_cum_return_usd"])
            if value is not None
        ]
        if not values:
            continue
        domain = nice_domain(min([0.0, *values]), max([0.0, *values]), 3)
        benchmarks = sorted(
            {
                row["benchmark_ticker"]
                for ticker_rows in tickers.values()
                for row in ticker_rows
                if row["benchmark_ticker"]
            }
        )
        svgs = []
        for ticker in sorted(tickers):
            ticker_rows = tickers[ticker]
            benchmark = next((row["benchmark_ticker"] for row in ticker_rows if row["benchmark_ticker"]), None)
            own = [(row["trade_date"], _times_100(row["cum_return_usd"])) for row in ticker_rows]
            bench = [(row["trade_date"], _times_100(row["benchmark_cum_return_usd"])) for row in ticker_rows]
            own_last, bench_last = _last(own), _last(bench)
            if own_last is None:
                continue
            heading = f"{ticker} {pct(own_last[1])}"
            if benchmark and bench_last is not None:
                heading += f" vs {benchmark} {pct(bench_last[1])}"
                summaries.append((group, ticker, benchmark, own_last[1] - bench_last[1], own_last[0]))
            granularity = ticker_rows[-1].get("granularity")
            granularities.append(granularity)
            series = [Series(ticker, own, color, width=1.8)]
            if benchmark:
                series.append(Series(benchmark, bench, BENCHMARK_COLOR, dash="5 3", width=1.4))
            svgs.append(
                line_chart(
                    series,
                    title=f"{ticker} vs {benchmark or 'no benchmark'}: cumulative USD total return "
                    f"({points_label(granularity)})",
                    x_label=f"trade date, {points_label(granularity)}",
                    y_label="cum. return, % USD",
                    y_format=pct,
                    width=282,
                    height=190,
                    heading=heading,
                    show_legend=False,
                    y_domain=domain,
                    max_x_ticks=4,
                    hover_columns=24,  # a small panel: a readout every ~10 px
                )
            )
        legend = _html_legend(
            [
                LegendItem(f"{group_label(group)} company", color),
                LegendItem("its benchmark", BENCHMARK_COLOR, dash="5 3"),
            ]
        )
        sections.append(
            f'<div class="group" data-group="{esc(group)}"><h3>{esc(group_label(group))}'
            f'<span class="subtle"> against {esc(", ".join(benchmarks) or "no benchmark")}</span></h3>'
            f'{legend}<div class="multiples">{"".join(svgs)}</div></div>'
        )
    if not summaries:
        return _empty(
            "ticker-vs-benchmark",
            title,
            "marts.relative_performance",
            "has no company with both a return and a benchmark return",
            source,
            TICKERS_HOW_TO_READ,
        )
    return Chart(
        chart_id="ticker-vs-benchmark",
        title=title,
        reading=_ticker_reading(summaries, rows),
        body="".join(sections) + _points_note(granularities, max_points=data.security_max_points, per="company"),
        source=source,
        how_to_read=TICKERS_HOW_TO_READ,
    )


def _times_100(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _ticker_reading(summaries: list[tuple[str, str, str, float, date]], rows: list[dict[str, Any]]) -> str:
    first = min(row["trade_date"] for row in rows)
    latest = max(summary[4] for summary in summaries)
    parts = []
    for group in dict.fromkeys(summary[0] for summary in summaries):
        excesses = [summary[3] for summary in summaries if summary[0] == group]
        behind, label = sum(1 for excess in excesses if excess < 0), GROUP_MEMBERS.get(group, group_label(group))
        if behind == 0:
            parts.append(f"all {len(excesses)} {label} beat their benchmark")
        elif behind == len(excesses):
            parts.append(f"all {len(excesses)} {label} trail their benchmark")
        else:
            parts.append(f"{behind} of {len(excesses)} {label} trail their benchmark")
    worst = min(summaries, key=lambda summary: summary[3])
    best = max(summaries, key=lambda summary: summary[3])
    return (
        f"Since {first.isoformat()}, {'; '.join(parts)} (as of {latest.isoformat()}). Widest shortfall: "
        f"{worst[1]}, {points(worst[3])} points vs {worst[2]}; widest lead: {best[1]}, {points(best[3])} points "
        f"vs {best[2]}."
    )


# ---------------------------------------------------------------------------------------------
# 3. the execution gap


GAP_HOW_TO_READ = (
    "Each dot is a company in the latest quarter whose cross-section is complete. Right = invests more than "
    "its peers (R&D + capex intensity and growth); up = shows more results (revenue growth and margin "
    "change); both in standard deviations from the peer mean. Execution gap = investment z − results z: "
    "dots below the dashed diagonal spend more than they show (positive gap), dots above it show more "
    "than they spend."
)


def execution_gap_chart(data: ReportData) -> Chart:
    base_title = "Execution gap: AI investment vs results"
    source = "marts.execution_gap — investment_zscore, results_zscore, execution_gap (latest complete quarter)"
    rows = records(data.execution_gap)
    if not rows:
        return _empty(
            "execution-gap",
            base_title,
            "marts.execution_gap",
            "has no quarter with z-scores",
            source,
            GAP_HOW_TO_READ,
        )
    quarter: date = rows[0]["calendar_quarter_end"]
    known_from: date | None = rows[0]["known_at_date"]
    title = f"{base_title}, quarter ending {quarter.isoformat()}"
    groups = list(dict.fromkeys(row["group_name"] for row in rows))
    scatter = [
        ScatterPoint(
            x=row["investment_zscore"],
            y=row["results_zscore"],
            label=row["ticker"],
            color=group_color(row["group_name"], groups),
            tip=(
                f"{row['ticker']} ({group_label(row['group_name'])}, fiscal quarter ending "
                f"{row['fiscal_period_end'].isoformat()}): investment z {row['investment_zscore']:.2f}, "
                f"results z {row['results_zscore']:.2f}, execution gap {row['execution_gap']:.2f}"
            ),
        )
        for row in rows
    ]
    svg = scatter_chart(
        scatter,
        title=title,
        x_label="investment z-score (R&D + capex: intensity and growth), σ vs peers",
        y_label="results z-score (revenue growth, margin change), σ",
        legend_items=[LegendItem(group_label(group), group_color(group, groups), "point") for group in groups],
        height=560,
        diagonal_label="gap = 0",
        below_diagonal_label="below the line: gap > 0, spending ahead of results",
        above_diagonal_label="above the line: gap < 0, results ahead of spending",
    )
    labelled = (
        f" Labels on the {SCATTER_MAX_LABELS} largest gaps either way; hover a point for the others."
        if len(scatter) > SCATTER_MAX_LABELS
        else ""
    )
    note = (
        f'<p class="chart-note">Execution gap = investment z {MINUS} results z = x {MINUS} y. Cross-section of '
        f"{rows[0]['company_count']} companies, final from {esc(known_from.isoformat() if known_from else 'n/a')} "
        f"(the last report of the quarter).{labelled}</p>"
    )
    return Chart(
        chart_id="execution-gap",
        title=title,
        reading=_gap_reading(rows, quarter),
        body=f'<div class="side-by-side">{svg}{_gap_table(rows)}</div>{note}',
        source=source,
        how_to_read=GAP_HOW_TO_READ,
    )


def _gap_table(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f'<tr><td><span class="dot" style="background: {esc(group_color(row["group_name"]))}"></span>'
        f"{esc(row['ticker'])}</td><td>{esc(_z(row['investment_zscore']))}</td><td>{esc(_z(row['results_zscore']))}</td>"
        f"<td><strong>{esc(_z(row['execution_gap']))}</strong></td></tr>"
        for row in sorted(rows, key=lambda row: -(row["execution_gap"] or 0.0))
    )
    return (
        '<table class="ranking"><caption>Execution gap, largest first</caption><thead><tr><th>ticker</th>'
        f"<th>invest. z</th><th>results z</th><th>gap</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _z(value: float | None) -> str:
    return "n/a" if value is None else fmt_number(value, decimals=2)


def _gap_reading(rows: list[dict[str, Any]], quarter: date) -> str:
    ranked = sorted(rows, key=lambda row: (-(row["execution_gap"] or 0.0), row["ticker"]))
    top = [row for row in ranked[:3] if (row["execution_gap"] or 0.0) > 0]
    means = []
    for group in dict.fromkeys(row["group_name"] for row in rows):
        gaps = [row["execution_gap"] for row in rows if row["group_name"] == group and row["execution_gap"] is not None]
        if gaps:
            means.append(f"{group_label(group)} {points(statistics.fmean(gaps), 2)}")
    if top:
        names = ", ".join(f"{row['ticker']} ({row['execution_gap']:.2f})" for row in top)
        lead = (
            f"Widest execution gaps in the quarter to {quarter.isoformat()}: {names} — investment above peers, "
            "results below."
        )
    else:
        lead = f"No company spends ahead of its results in the quarter to {quarter.isoformat()}."
    return f"{lead} Mean gap: {', '.join(means)}."


# ---------------------------------------------------------------------------------------------
# 4. abnormal returns around the latest policy events


CAR_HOW_TO_READ = (
    "For each of the latest policy events, the average cumulative abnormal return of each group over "
    "trading days −1 to +1 around the event: the return beyond what the stocks' benchmarks explain "
    "(market model fitted over days −250 to −30). The label on each bar is the cross-sectional t-statistic; "
    "* marks |t| above the two-sided 5% critical value of Student's t with n − 1 degrees of freedom. "
    "Hover a bar for the event, n and the exact figures."
)


STALE_EVENTS_DAYS = 60  # a newest event older than this at the as-of date is said to be old, in the chart


def car_chart(data: ReportData) -> Chart:
    title = "Abnormal returns around the latest policy events, by group"
    source = "marts.policy_event_group_impact — car_m1_p1_mean_pct, car_m1_p1_t_stat, car_m1_p1_n"
    rows = records(data.events)
    if not rows:
        return _empty(
            "policy-car",
            title,
            "marts.policy_event_group_impact",
            "has no event with a CAR over days −1..+1",
            source,
            CAR_HOW_TO_READ,
        )
    events = list(dict.fromkeys(row["event_id"] for row in rows))
    event_rows = {row["event_id"]: row for row in rows}
    groups = [group for group in GROUP_COLORS if any(row["group_name"] == group for row in rows)]
    groups += sorted({row["group_name"] for row in rows} - set(groups))
    cells = {(row["event_id"], row["group_name"]): row for row in rows}
    bar_groups = []
    significant, total = 0, 0
    for group in groups:
        values: list[float | None] = []
        labels: list[str | None] = []
        tips: list[str | None] = []
        for event_id in events:
            cell = cells.get((event_id, group))
            mean = cell["car_m1_p1_mean_pct"] if cell else None
            values.append(mean)
            if cell is None or mean is None:
                labels.append(None)
                tips.append(None)
                continue
            total += 1
            t_stat, n = cell["car_m1_p1_t_stat"], cell["car_m1_p1_n"] or 0
            is_significant = t_stat is not None and abs(t_stat) > t_critical(n - 1)
            significant += is_significant
            t_text = "n/a" if t_stat is None else fmt_number(t_stat, decimals=2)
            labels.append(
                "t n/a" if t_stat is None else f"t {fmt_number(t_stat, decimals=1)}{'*' if is_significant else ''}"
            )
            tips.append(
                f"{group_label(group)}: mean CAR[−1,+1] {pct(mean, 2)}, t = {t_text}, n = {n} — {cell['title']} "
                f"({cell['event_date'].isoformat()})"
            )
        bar_groups.append(
            BarGroup(name=group_label(group), color=group_color(group, groups), values=values, labels=labels, tips=tips)
        )
    categories = [
        [event_rows[event_id]["event_date"].isoformat(), *_wrap(event_rows[event_id]["title"] or "", 21, 2)]
        for event_id in events
    ]
    svg = grouped_bar_chart(
        categories,
        bar_groups,
        title=title,
        x_label="policy event (calendar date; day 0 is each listing's first session on or after it)",
        y_label="mean CAR, days −1 to +1, %",
        y_format=lambda value: pct(value, 1),
        category_tips=[
            f"{event_rows[event_id]['title']} ({event_rows[event_id]['category']}, "
            f"{event_rows[event_id]['event_date'].isoformat()})"
            for event_id in events
        ],
    )
    newest = max(row["event_date"] for row in rows)
    stale = ""
    if data.as_of is not None and (data.as_of - newest).days > STALE_EVENTS_DAYS:
        stale = (
            f'<p class="chart-note warning">The newest event here is dated {newest.isoformat()}, '
            f"{(data.as_of - newest).days} days before the as-of date {data.as_of.isoformat()}: the curated "
            "calendar states how far it covers, and <code>gapwatch status</code> calls it stale when it needs "
            "extending. "
            "These are not the latest events in the world, only the latest in the calendar.</p>"
        )
    return Chart(
        chart_id="policy-car",
        title=title,
        reading=_car_reading(rows, len(events), significant, total),
        body=svg + stale,
        source=source,
        how_to_read=CAR_HOW_TO_READ,
    )


def _wrap(text: str, width: int, lines: int) -> list[str]:
    wrapped = textwrap.wrap(text, width) or [""]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    return wrapped


def _car_reading(rows: list[dict[str, Any]], event_count: int, significant: int, total: int) -> str:
    valued = [row for row in rows if row["car_m1_p1_mean_pct"] is not None]
    biggest = max(valued, key=lambda row: abs(row["car_m1_p1_mean_pct"]))
    t_stat = biggest["car_m1_p1_t_stat"]
    share = "None" if significant == 0 else f"{significant}"
    return (
        f"Largest group move around the latest {event_count} events: {group_label(biggest['group_name'])} "
        f"{pct(biggest['car_m1_p1_mean_pct'], 2)} over days −1..+1 of “{biggest['title']}” "
        f"({biggest['event_date'].isoformat()}; t = {'n/a' if t_stat is None else f'{t_stat:.2f}'}, "
        f"n = {biggest['car_m1_p1_n']}). {share} of {total} group means {'is' if significant == 1 else 'are'} "
        "significant at 5%."
    )


# ---------------------------------------------------------------------------------------------
# 5. CPI year on year


CPI_HOW_TO_READ = (
    "US CPI-U, change from the same month a year earlier (not seasonally adjusted, as BLS headlines it), "
    "by reference month: headline (all items) and core (less food and energy). Each print counts from its "
    "BLS release date (hover a point; 'estimated' when the release calendar does not list it). Months BLS "
    "never published (October 2025) are shaded and the lines break there: nothing is interpolated. The "
    "ringed point is the latest print. This is real BLS data, not sample data."
)


def cpi_chart(data: ReportData) -> Chart:
    title = "US CPI inflation, year on year, with release dates"
    source = "marts.inflation — headline_yoy_pct, core_yoy_pct, release_date, is_release_date_estimated"
    rows = records(data.inflation)
    with_yoy = [row for row in rows if row["headline_yoy_pct"] is not None or row["core_yoy_pct"] is not None]
    if not with_yoy:
        return _empty("cpi-yoy", title, "marts.inflation", "has no year-on-year change yet", source, CPI_HOW_TO_READ)
    first_month = with_yoy[0]["month_date"]
    shown = [row for row in rows if row["month_date"] >= first_month]
    first_in_mart = rows[0].get("first_month_in_mart")
    window_note = ""
    if first_in_mart is not None and first_in_mart < rows[0]["month_date"]:
        window_note = (
            f'<p class="chart-note">The latest {len(rows)} months are drawn (from '
            f"{first_month:{MONTH_FORMAT}}); marts.inflation goes back to {first_in_mart:{MONTH_FORMAT}}.</p>"
        )
    tips = [_cpi_tip(row) for row in shown]
    series = [
        Series(
            "headline CPI-U (all items)",
            [(row["month_date"], row["headline_yoy_pct"]) for row in shown],
            HEADLINE_COLOR,
            width=2.4,
            tips=tips,
        ),
        Series(
            "core CPI-U (less food and energy)",
            [(row["month_date"], row["core_yoy_pct"]) for row in shown],
            CORE_COLOR,
            width=1.8,
            tips=tips,
        ),
    ]
    bands = [
        Band(row["month_date"], _next_month(row["month_date"]), f"{row['month_date']:{MONTH_FORMAT}} not published")
        for row in shown
        if not row["is_published"]
    ]
    latest = next((row for row in reversed(shown) if row["is_published"]), None)
    latest_valued = next((row for row in reversed(shown) if row["headline_yoy_pct"] is not None), None)
    markers = []
    if latest_valued is not None:
        markers.append(
            Marker(
                latest_valued["month_date"],
                latest_valued["headline_yoy_pct"],
                f"{latest_valued['month_date']:{MONTH_FORMAT}}: {_one_dp(latest_valued, 'headline')}% "
                f"(released {_release(latest_valued)})",
                HEADLINE_COLOR,
            )
        )
    svg = line_chart(
        series,
        title=title,
        x_label="reference month (hover a point for its release date)",
        y_label="% change from a year earlier",
        y_format=lambda value: fmt_number(value, decimals=1 if value % 1 else 0, suffix="%"),
        bands=bands,
        markers=markers,
        reference_lines=[(2.0, "2%")],
    )
    return Chart(
        chart_id="cpi-yoy",
        title=title,
        reading=_cpi_reading(shown, latest),
        body=svg + window_note + _release_table(shown),
        source=source,
        how_to_read=CPI_HOW_TO_READ,
    )


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _one_dp(row: dict[str, Any], measure: str) -> str:
    printed = row.get(f"{measure}_yoy_pct_1dp")
    value = printed if printed is not None else row.get(f"{measure}_yoy_pct")
    return "n/a" if value is None else f"{value:.1f}"


def _release(row: dict[str, Any]) -> str:
    if row["release_date"] is None:
        return "never"
    released: date = row["release_date"]
    return released.isoformat() + (", estimated" if row["is_release_date_estimated"] else "")


def _cpi_tip(row: dict[str, Any]) -> str | None:
    if not row["is_published"]:
        return None
    return (
        f"{row['month_date']:{MONTH_FORMAT}}: headline {_one_dp(row, 'headline')}%, core {_one_dp(row, 'core')}% "
        f"year on year; released {_release(row)}"
    )


def _release_source(row: dict[str, Any]) -> str:
    if row["release_date"] is None:
        return ""
    return "estimated" if row["is_release_date_estimated"] else "BLS calendar"


def _release_table(rows: list[dict[str, Any]]) -> str:
    body = []
    for row in list(reversed(rows))[:6]:
        body.append(
            f"<tr><td>{esc(format(row['month_date'], MONTH_FORMAT))}</td>"
            f"<td>{esc(_one_dp(row, 'headline') if row['is_published'] else 'not published')}</td>"
            f"<td>{esc(_one_dp(row, 'core') if row['is_published'] else '')}</td>"
            f"<td>{esc(row['release_date'].isoformat() if row['release_date'] else 'never')}</td>"
            f"<td>{esc(_release_source(row))}</td></tr>"
        )
    return (
        '<table class="prints"><caption>Latest prints (year on year, %, as BLS prints them)</caption>'
        "<thead><tr><th>month</th><th>headline</th><th>core</th><th>released</th><th>release date from</th></tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _cpi_reading(rows: list[dict[str, Any]], latest: dict[str, Any] | None) -> str:
    if latest is None:
        return "No CPI print has been published yet."
    month = format(latest["month_date"], LONG_MONTH_FORMAT)
    if latest["headline_yoy_pct"] is None:
        text = (
            f"The latest print, {month} (released {_release(latest)}), has no year-on-year change: the month a "
            "year earlier was never published."
        )
    else:
        text = (
            f"Headline CPI rose {_one_dp(latest, 'headline')}% in the year to {month} (released "
            f"{_release(latest)}), core {_one_dp(latest, 'core')}%."
        )
        previous = next(
            (
                row
                for row in reversed(rows)
                if row["month_date"] < latest["month_date"] and row["headline_yoy_pct"] is not None
            ),
            None,
        )
        if previous is not None:
            before = format(previous["month_date"], LONG_MONTH_FORMAT)
            text += f" The print before ({before}) was {_one_dp(previous, 'headline')}%."
    missing = [format(row["month_date"], LONG_MONTH_FORMAT) for row in rows if not row["is_published"]]
    if missing:
        text += f" Never published, left as a gap: {', '.join(missing)}."
    return text


# ---------------------------------------------------------------------------------------------
# 6. does the market pay for measured results? (the signal evaluation)


SIGNAL_HORIZONS: dict[str, tuple[str, str]] = {
    "car_p0_p1": ("CAR [0,+1]", "days 0 to +1"),
    "car_p0_p5": ("CAR [0,+5]", "days 0 to +5"),
    "return_1m": ("1 month", "21 sessions"),
    "return_3m": ("3 months", "63 sessions"),
    "return_6m": ("6 months", "126 sessions"),
}
SIGNAL_READING_NAMES: dict[str, str] = {
    "car_p0_p1": "CAR [0,+1]",
    "car_p0_p5": "CAR [0,+5]",
    "return_1m": "1-month excess return",
    "return_3m": "3-month excess return",
    "return_6m": "6-month excess return",
}
SIGNAL_GROUPS: tuple[str, ...] = ("china_tech", "us_ai_leader", "pooled")
POOLED_COLOR = "#555555"
SIGNAL_SAMPLE_NOTE = (
    "Sample data: the synthetic fundamentals and prices are generated independently of each other, so an IC "
    "near zero is what they should show; these bars say nothing about markets."
)
SIGNAL_HOW_TO_READ = (
    "For each horizon after a quarter's results became public, the mean rank information coefficient (the "
    "Spearman correlation, within each calendar quarter, of the execution gap with the reward that followed: "
    "market-adjusted CARs, then forward returns in excess of the group benchmark), averaged over the quarters. "
    "The execution gap is investment minus results, so a bar below zero means a wide gap was followed by a "
    "lower reward: the market pays for measured results. The label is the Newey-West t-statistic; * marks "
    "|t| above the two-sided 5% critical value with n − 1 degrees of freedom (n quarters). Hover a bar for "
    "n, the hit rate and the tercile spread."
)


def signal_chart(data: ReportData) -> Chart:
    title = "Does the market pay for measured AI results? Rank IC of the execution gap by horizon"
    source = (
        "marts.signal_evaluation — the latest row per group and horizon, reward_basis 'benchmark': "
        "rank_ic_mean, rank_ic_t_stat_newey_west, cross_section_count, rank_ic_hit_rate, tercile_spread_mean_pp"
    )
    rows = [row for row in records(data.signal) if row["rank_ic_mean"] is not None]
    if not rows:
        return _empty(
            "signal-ic",
            title,
            "marts.signal_evaluation",
            "has no cross-section with a complete reward",
            source,
            SIGNAL_HOW_TO_READ,
        )
    horizons = [horizon for horizon in SIGNAL_HORIZONS if any(row["horizon"] == horizon for row in rows)]
    horizons += sorted({row["horizon"] for row in rows} - set(horizons))
    groups = [group for group in SIGNAL_GROUPS if any(row["group_name"] == group for row in rows)]
    groups += sorted({row["group_name"] for row in rows} - set(groups))
    cells = {(row["group_name"], row["horizon"]): row for row in rows}
    bar_groups, significant = [], 0
    for group in groups:
        values: list[float | None] = []
        labels: list[str | None] = []
        tips: list[str | None] = []
        for horizon in horizons:
            cell = cells.get((group, horizon))
            if cell is None:
                values.append(None)
                labels.append(None)
                tips.append(None)
                continue
            t_stat, n = cell["rank_ic_t_stat_newey_west"], cell["cross_section_count"] or 0
            is_significant = t_stat is not None and abs(t_stat) > t_critical(n - 1)
            significant += is_significant
            values.append(cell["rank_ic_mean"])
            labels.append(
                "t n/a" if t_stat is None else f"t {fmt_number(t_stat, decimals=1)}{'*' if is_significant else ''}"
            )
            tips.append(_signal_tip(group, horizon, cell))
        bar_groups.append(
            BarGroup(
                name=_signal_group_label(group),
                color=POOLED_COLOR if group == "pooled" else group_color(group, groups),
                values=values,
                labels=labels,
                tips=tips,
            )
        )
    svg = grouped_bar_chart(
        [list(SIGNAL_HORIZONS.get(horizon, (horizon, ""))) for horizon in horizons],
        bar_groups,
        title=title,
        x_label="reward horizon after the results were public (day 0: the first close after they were)",
        y_label="mean rank IC (gap vs reward)",
        y_format=lambda value: fmt_number(value, decimals=2, signed=value != 0),
    )
    is_sample = any("sample" in (row.get("data_source") or "") for row in rows)
    note = f'<p class="chart-note" id="signal-sample-note">{esc(SIGNAL_SAMPLE_NOTE)}</p>' if is_sample else ""
    return Chart(
        chart_id="signal-ic",
        title=title,
        reading=_signal_reading(cells, significant, len(rows), is_sample=is_sample),
        body=svg + note,
        source=source,
        how_to_read=SIGNAL_HOW_TO_READ,
    )


def _signal_group_label(group: str) -> str:
    return "Pooled (both groups)" if group == "pooled" else group_label(group)


def _signal_tip(group: str, horizon: str, cell: dict[str, Any]) -> str:
    t_stat = cell["rank_ic_t_stat_newey_west"]
    hit_rate, spread = cell["rank_ic_hit_rate"], cell["tercile_spread_mean_pp"]
    return (
        f"{_signal_group_label(group)}, {SIGNAL_HORIZONS.get(horizon, (horizon, ''))[0]}: mean rank IC "
        f"{fmt_number(cell['rank_ic_mean'], decimals=3, signed=True)}, Newey-West t = "
        f"{'n/a' if t_stat is None else fmt_number(t_stat, decimals=2)} (lag {cell['newey_west_lag']}), "
        f"n = {cell['cross_section_count']} quarters, {cell['observation_count']} company-quarters; IC > 0 in "
        f"{'n/a' if hit_rate is None else f'{100 * hit_rate:.0f}%'} of quarters; top-minus-bottom gap tercile "
        f"{'n/a' if spread is None else points(spread, 2)} points"
    )


def _signal_reading(
    cells: dict[tuple[str, str], dict[str, Any]], significant: int, total: int, *, is_sample: bool
) -> str:
    pooled = cells.get(("pooled", "return_3m")) or next(
        (cell for (group, _), cell in cells.items() if group == "pooled"), None
    )
    lead = ""
    if pooled is not None:
        t_stat = pooled["rank_ic_t_stat_newey_west"]
        label = SIGNAL_READING_NAMES.get(pooled["horizon"], pooled["horizon"])
        lead = (
            f"Pooled, the execution gap's mean rank IC with the {label} is "
            f"{fmt_number(pooled['rank_ic_mean'], decimals=3, signed=True)} (Newey-West t = "
            f"{'n/a' if t_stat is None else f'{t_stat:.2f}'}, {pooled['cross_section_count']} quarters). "
        )
    verdict = f"{'None' if significant == 0 else significant} of {total} group-horizon means "
    verdict += f"{'is' if significant == 1 else 'are'} significant at 5%."
    if is_sample:
        verdict += " Sample data: near zero is expected."
    return lead + verdict


CHART_BUILDERS = (spread_chart, ticker_chart, execution_gap_chart, car_chart, cpi_chart, signal_chart)
CHART_IDS: tuple[str, ...] = (
    "spread",
    "ticker-vs-benchmark",
    "execution-gap",
    "policy-car",
    "cpi-yoy",
    "signal-ic",
)


def build_charts(data: ReportData) -> list[Chart]:
    """The six charts, in page order."""
    return [builder(data) for builder in CHART_BUILDERS]
