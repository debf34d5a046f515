"""The report is bounded by what it draws, not by the length of the history.

A small published warehouse written here (no pipeline run): ``marts.relative_performance``
with 20 years of weekday rows for some series and a few months for others, and 46 years of
``marts.inflation``. The thinning is checked against a reference computed in Python from the
source rows (bucket ends by calendar day, ISO week, month, ...), not against the SQL itself.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Hashable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flows.report import svg
from flows.report.charts import build_charts
from flows.report.data import (
    BASKET_MAX_POINTS,
    CPI_MAX_MONTHS,
    GRANULARITIES,
    SECURITY_MAX_POINTS,
    load_report_data,
    plain,
    records,
)
from flows.report.svg import ScatterPoint, scatter_chart

LATEST = date(2026, 11, 20)  # a Friday
TWENTY_YEARS_AGO = date(2006, 11, 20)
CCC_BASE = date(2015, 6, 17)  # a Wednesday: the end of no bucket

# series_id, series_type, group_name, benchmark_ticker, first date, base trade date (None: the first date)
SERIES: tuple[tuple[str, str, str | None, str | None, date, date | None], ...] = (
    ("basket:china_tech", "basket", "china_tech", None, TWENTY_YEARS_AGO, None),
    ("basket:us_ai_leader", "basket", "us_ai_leader", None, date(2024, 11, 20), None),  # 2 years
    ("spread:china_tech_minus_us_ai_leader", "spread", None, None, TWENTY_YEARS_AGO, None),
    ("AAA", "security", "china_tech", "KWEB", TWENTY_YEARS_AGO, None),
    ("BBB", "security", "us_ai_leader", "QQQ", date(2026, 8, 20), None),  # 3 months
    ("CCC", "security", "us_ai_leader", "QQQ", TWENTY_YEARS_AGO, CCC_BASE),
    ("KWEB", "security", "benchmark", None, TWENTY_YEARS_AGO, None),  # benchmarks get no panel
)
BASKET_IDS = {"basket:china_tech", "basket:us_ai_leader", "spread:china_tech_minus_us_ai_leader"}
COMPANY_IDS = {"AAA", "BBB", "CCC"}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("bounds") / "gapwatch.duckdb"
    connection = duckdb.connect(str(database))
    try:
        connection.execute("create schema marts")
        connection.execute(
            "create table marts.relative_performance (series_id varchar, series_type varchar, group_name varchar, "
            "benchmark_ticker varchar, trade_date date, base_trade_date date, cum_return_usd double, "
            "benchmark_cum_return_usd double, data_source varchar)"
        )
        for series_id, series_type, group, benchmark, first, base in SERIES:
            connection.execute(
                """insert into marts.relative_performance
                   select
                       $series_id, $series_type, $group_name, $benchmark, cast(day as date), $base,
                       (hash($series_id, day) % 100000) / 1000.0 - 50,
                       (hash($benchmark, day) % 100000) / 1000.0 - 50,
                       'sample',
                   from range($first, $latest + interval 1 day, interval 1 day) as days (day)
                   where isodow(day) <= 5""",
                {
                    "series_id": series_id,
                    "series_type": series_type,
                    "group_name": group,
                    "benchmark": benchmark,
                    "first": first,
                    "latest": LATEST,
                    "base": base or first,
                },
            )
        connection.execute(
            """create table marts.inflation as
               select
                   cast(month as date) as month_date,
                   month <> date '2025-10-01' as is_published,
                   cast(month + interval 45 day as date) as release_date,
                   false as is_release_date_estimated,
                   2 + sin(epoch(month) / 1e7) as headline_yoy_pct,
                   2 + cos(epoch(month) / 1e7) as core_yoy_pct,
                   round(2 + sin(epoch(month) / 1e7), 1) as headline_yoy_pct_1dp,
                   round(2 + cos(epoch(month) / 1e7), 1) as core_yoy_pct_1dp,
                   'bls' as data_source,
               from range(date '1980-01-01', date '2026-09-01', interval 1 month) as months (month)"""
        )
    finally:
        connection.close()
    return database


def source_rows(database: Path) -> pd.DataFrame:
    connection = duckdb.connect(str(database), read_only=True)
    try:
        return connection.execute("select * from marts.relative_performance order by series_id, trade_date").df()
    finally:
        connection.close()


# The buckets, as Python computes them: what date_trunc(unit, day) tells apart.
BUCKETS: dict[str, Callable[[date], Hashable]] = {
    "day": lambda day: day,
    "week": lambda day: day - timedelta(days=day.weekday()),
    "month": lambda day: (day.year, day.month),
    "quarter": lambda day: (day.year, (day.month - 1) // 3),
    "year": lambda day: day.year,
    "decade": lambda day: day.year // 10,
    "century": lambda day: day.year // 100,
}


def calendar_buckets(unit: str, first: date, last: date) -> int:
    days = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    return len({BUCKETS[unit](day) for day in days})


def expected_unit(first: date, last: date, max_points: int) -> str:
    """The finest unit whose calendar buckets, plus the first day and the base date, fit."""
    return next(
        (unit for unit in GRANULARITIES if calendar_buckets(unit, first, last) + 2 <= max_points), GRANULARITIES[-1]
    )


def expected_dates(days: list[date], base: date, unit: str) -> list[date]:
    """The last day of each bucket, the first day and the base date."""
    last_of_bucket = {BUCKETS[unit](day): day for day in sorted(days)}
    return sorted({*last_of_bucket.values(), min(days), base})


def check_thinned(
    thinned: pd.DataFrame, source: pd.DataFrame, *, id_column: str, series_ids: set[str], max_points: int
) -> dict[str, str]:
    """Assert the thinning of every series in ``series_ids``; return the unit chosen per series."""
    assert set(thinned[id_column]) == series_ids
    units = {}
    for series_id, kept in thinned.groupby(id_column):
        rows = source[source["series_id"] == series_id]
        days = [day.date() for day in rows["trade_date"]]
        kept_days = [day.date() for day in kept["trade_date"]]
        (unit,) = set(kept["granularity"])
        units[str(series_id)] = unit
        assert len(kept) <= max_points, (series_id, len(kept))
        assert unit == expected_unit(min(days), max(days), max_points), series_id
        base = rows["base_trade_date"].iloc[0].date()
        assert kept_days == expected_dates(days, base, unit), series_id
        assert kept_days[0] == min(days) and kept_days[-1] == max(days) == LATEST and base in kept_days
        # every kept row is the source row of that day, value for value
        joined = kept.merge(rows, left_on=[id_column, "trade_date"], right_on=["series_id", "trade_date"])
        assert len(joined) == len(kept)
        assert joined["cum_return_usd_x"].tolist() == joined["cum_return_usd_y"].tolist()
        if "benchmark_cum_return_usd" in kept:
            assert joined["benchmark_cum_return_usd_x"].tolist() == joined["benchmark_cum_return_usd_y"].tolist()
    return units


def test_return_series_are_thinned_to_the_bounds_keeping_base_and_latest_days(published: Path) -> None:
    source = source_rows(published)
    data = load_report_data(published)
    assert data.as_of == LATEST and data.is_sample
    assert (source["series_id"] == "AAA").sum() > 5_000  # 20 years of daily rows
    baskets = check_thinned(
        data.baskets, source, id_column="series_id", series_ids=BASKET_IDS, max_points=BASKET_MAX_POINTS
    )
    companies = check_thinned(
        data.securities, source, id_column="ticker", series_ids=COMPANY_IDS, max_points=SECURITY_MAX_POINTS
    )
    # 20 years: 1,045 weeks do not fit in 1,000 points, 241 months do; 2 years stay daily
    assert baskets == {
        "basket:china_tech": "month",
        "spread:china_tech_minus_us_ai_leader": "month",
        "basket:us_ai_leader": "day",
    }
    assert companies == {"AAA": "month", "CCC": "month", "BBB": "day"}
    # the 3-month company is not thinned at all
    assert len(data.securities[data.securities["ticker"] == "BBB"]) == (source["series_id"] == "BBB").sum()
    assert (data.baskets.groupby("series_id").size() > 200).all()  # thinned, not starved


@pytest.mark.parametrize("max_points", [3, 12, 40, 100, 600])
def test_the_bound_holds_whatever_it_is(published: Path, max_points: int) -> None:
    source = source_rows(published)
    data = load_report_data(published, basket_max_points=max_points, security_max_points=max_points)
    check_thinned(data.baskets, source, id_column="series_id", series_ids=BASKET_IDS, max_points=max_points)
    check_thinned(data.securities, source, id_column="ticker", series_ids=COMPANY_IDS, max_points=max_points)


def test_charts_say_which_points_they_draw_and_draw_no_more(published: Path) -> None:
    charts = {chart.chart_id: chart for chart in build_charts(load_report_data(published))}
    spread = charts["spread"].body
    assert "trade date (daily points, monthly points)" in spread
    assert "Monthly points for 2 lines, daily points for 1 line" in spread
    for path in re.findall(r'<path class="mark line" d="([^"]+)"', spread):
        assert path.count(",") <= BASKET_MAX_POINTS
    panels = dict(re.findall(r"<svg [^>]*><title>(\w+) vs .*?</title>(.*?)</svg>", charts["ticker-vs-benchmark"].body))
    assert set(panels) == COMPANY_IDS
    assert "trade date, monthly points" in panels["AAA"] and "trade date, daily points" in panels["BBB"]
    for panel in panels.values():
        paths = re.findall(r'<path class="mark line" d="([^"]+)"', panel)
        assert len(paths) == 2 and all(path.count(",") <= SECURITY_MAX_POINTS for path in paths)
    assert "at most 260 points per company" in charts["ticker-vs-benchmark"].source


def test_cpi_keeps_the_latest_months_and_says_so(published: Path) -> None:
    data = load_report_data(published)
    assert len(data.inflation) == CPI_MAX_MONTHS
    assert data.inflation["month_date"].max() == pd.Timestamp("2026-08-01")
    cpi = {chart.chart_id: chart for chart in build_charts(data)}["cpi-yoy"]
    assert f"The latest {CPI_MAX_MONTHS} months are drawn (from Sep 2001)" in cpi.body
    assert "marts.inflation goes back to Jan 1980" in cpi.body
    assert cpi.body.count('class="mark point"') <= 2 * CPI_MAX_MONTHS + 1  # + the ringed latest print
    assert "Oct 2025 not published" in cpi.body
    assert len(load_report_data(published, cpi_max_months=24).inflation) == 24


def test_records_equals_the_cell_by_cell_conversion() -> None:
    frame = duckdb.sql(
        """select * from (values
               ('a', date '2024-01-02', 1.5, 3, true, null::boolean, timestamp '2024-01-02 10:00'),
               (null, null, 'nan'::double, 4, false, true, null),
               ('c', date '2024-01-04', null, 5, true, false, timestamp '2024-01-04 23:59')
           ) as rows (text, day, number, whole, flag, maybe, moment)"""
    ).df()
    frame["mixed"] = pd.Series([date(2024, 1, 2), None, pd.Timestamp("2024-01-04 12:00")], dtype=object)
    frame["nullable"] = pd.array([1, None, 3], dtype="Int64")
    expected = [{key: plain(value) for key, value in row.items()} for row in frame.to_dict("records")]
    assert records(frame) == expected
    assert [type(value) for value in records(frame)[0].values()] == [
        str,
        date,
        float,
        int,
        bool,
        type(None),
        date,
        date,
        int,
    ]
    assert records(frame.iloc[0:0]) == [] and records(pd.DataFrame()) == []


def test_scatter_label_placement_equals_the_all_pairs_search(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = random.Random(20261120)
    points = [
        ScatterPoint(generator.gauss(0, 1), generator.gauss(0, 0.7), f"T{number}.HK"[: generator.randint(2, 7)], "#123")
        for number in range(300)
    ]
    points.append(ScatterPoint(points[0].x, points[0].y, "same spot", "#456"))
    every = len(points)
    indexed = scatter_chart(points, title="gap", x_label="x", y_label="y", diagonal_label="gap = 0", max_labels=every)

    def every_box(self: svg._BoxIndex, box: svg.Box, *, skip: int | None = None) -> list[svg.Box]:
        return [other for index, other in enumerate(self.boxes) if index != skip]

    monkeypatch.setattr(svg._BoxIndex, "near", every_box)
    assert (
        scatter_chart(points, title="gap", x_label="x", y_label="y", diagonal_label="gap = 0", max_labels=every)
        == indexed
    )


def test_a_crowded_scatter_labels_only_the_points_farthest_from_the_diagonal() -> None:
    generator = random.Random(5000)
    points = [
        ScatterPoint(generator.gauss(0, 1), generator.gauss(0, 1), f"P{number:04d}", "#123") for number in range(2000)
    ]
    markup = scatter_chart(points, title="gap", x_label="x", y_label="y", max_labels=25)
    labelled = set(re.findall(r'class="point-label"[^>]*>(P\d{4})<', markup))
    farthest = sorted(points, key=lambda point: -abs(point.x - point.y))[:25]
    assert labelled == {point.label for point in farthest}
    assert markup.count('class="mark point"') == 2000  # every point is drawn, with its tooltip
    # a small scatter keeps every label
    few = scatter_chart(points[:30], title="gap", x_label="x", y_label="y", max_labels=25 + 5)
    assert len(re.findall(r'class="point-label"', few)) == 30
