"""Data access for the report: small frames read from the *published* marts, read-only.

Every query names the mart columns it charts; nothing here formats or draws. A mart that
is missing (no published warehouse yet, or an older one) reads as an empty frame, so the
report says "no data yet" instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

MARTS: tuple[str, ...] = (
    "relative_performance",
    "execution_gap",
    "policy_event_impact",
    "policy_event_group_impact",
    "inflation",
    "signal_evaluation",
)

# Bounds on what a line chart draws, whatever the history's length: a series is thinned to
# buckets of one day, week, month, ... (the finest whose count fits) and keeps the last trading
# day of each bucket, plus its first day and its base date (so at most ``max_points`` points).
# About 1.3 points per pixel of plot width: 740 px for the basket chart, 200 px per company panel.
BASKET_MAX_POINTS = 1_000
SECURITY_MAX_POINTS = 260
# The CPI chart draws one point (with a tooltip) per month and series: the latest 25 years at most.
CPI_MAX_MONTHS = 300

# Bucket units, finest first; ``granularity`` in the thinned frames is the unit chosen per series.
GRANULARITIES: tuple[str, ...] = ("day", "week", "month", "quarter", "year", "decade", "century")


def thinned_series_sql(*, series_filter: str, columns: Sequence[str], order_by: str) -> str:
    """SQL for ``marts.relative_performance`` rows matching ``series_filter``, thinned per series.

    For each series the bucket unit is the finest of :data:`GRANULARITIES` whose number of
    calendar buckets between the series' first and last dates, plus two (the first day and the
    base date), is at most ``$max_points``; the kept rows are the last row of each bucket (so
    the latest day), the first row and the base date's row. Set-based: the bucket ends are found
    on the narrow key columns, then the charted ``columns`` are read for the kept keys only.
    """
    units = "\n".join(f"        ({rank}, '{unit}')," for rank, unit in enumerate(GRANULARITIES, start=1))
    buckets = "\n".join(
        f"            when {rank} then "
        + ("series.trade_date" if unit == "day" else f"date_trunc('{unit}', series.trade_date)")
        for rank, unit in enumerate(GRANULARITIES, start=1)
    )
    selected = "\n".join(f"        {column}," for column in columns)
    return f"""
with series as not materialized (
    select
        series_id,
        trade_date,
        base_trade_date,
    from marts.relative_performance
    where {series_filter}
),

granularities (granularity_rank, granularity) as (
    values
{units}
),

spans as (
    select
        series_id,
        min(trade_date) as first_date,
        max(trade_date) as last_date,
        min(base_trade_date) as base_trade_date,
    from series
    group by series_id
),

chosen as (
    select
        spans.series_id,
        any_value(spans.first_date) as first_date,
        any_value(spans.base_trade_date) as base_trade_date,
        coalesce(
            min(granularities.granularity_rank) filter (
                where date_diff(
                    granularities.granularity,
                    date_trunc(granularities.granularity, spans.first_date),
                    date_trunc(granularities.granularity, spans.last_date)
                ) + 1 + 2 <= $max_points
            ),
            max(granularities.granularity_rank)
        ) as granularity_rank,
    from spans
    cross join granularities
    group by spans.series_id
),

bucket_ends as (
    select
        series.series_id,
        max(series.trade_date) as trade_date,
    from series
    inner join chosen on series.series_id = chosen.series_id
    group by
        series.series_id,
        case chosen.granularity_rank
{buckets}
        end
),

kept as (
    select series_id, trade_date from bucket_ends
    union
    select series_id, first_date from chosen
    union
    select series_id, base_trade_date from chosen where base_trade_date is not null
),

final as (
    select
{selected}
        granularities.granularity,
    from marts.relative_performance as performance
    inner join kept
        on performance.series_id = kept.series_id
        and performance.trade_date = kept.trade_date
    inner join chosen on performance.series_id = chosen.series_id
    inner join granularities on chosen.granularity_rank = granularities.granularity_rank
)

select * from final
order by {order_by}
"""


# Both baskets and their spread (cum_return_usd is a fraction; the spread is in return points),
# thinned to at most $max_points per line (daily over about 2.7 years or less).
BASKETS_SQL = thinned_series_sql(
    series_filter="series_type in ('basket', 'spread')",
    columns=(
        "performance.series_id",
        "performance.series_type",
        "performance.trade_date",
        "performance.cum_return_usd",
    ),
    order_by="series_id, trade_date",
)

# Each company against its benchmark, thinned to at most $max_points per panel (daily over
# about 8 months or less, weekly up to 5 years, monthly up to 21 years, ...).
SECURITIES_SQL = thinned_series_sql(
    series_filter="series_type = 'security' and group_name <> 'benchmark'",
    columns=(
        "performance.series_id as ticker",
        "performance.group_name",
        "performance.benchmark_ticker",
        "performance.trade_date",
        "performance.cum_return_usd",
        "performance.benchmark_cum_return_usd",
    ),
    order_by="group_name, ticker, trade_date",
)

# The latest calendar quarter whose cross-section is complete: as many companies with both
# z-scores as the fullest quarter has (a quarter still in its reporting season has fewer), each
# company in the quarter's latest cross-section version (execution_gap keeps one row per version).
EXECUTION_GAP_SQL = """
with scored as (
    select * from marts.execution_gap
    where investment_zscore is not null
        and results_zscore is not null
    qualify known_at = max(known_at) over (partition by calendar_quarter_end)
),

quarters as (
    select
        calendar_quarter_end,
        count(*) as company_count,
        cast(max(known_at) as date) as known_at_date,
    from scored
    group by calendar_quarter_end
),

latest_complete as (
    select * from quarters
    where company_count = (select max(company_count) from quarters)
    order by calendar_quarter_end desc
    limit 1
),

final as (
    select
        scored.ticker,
        scored.group_name,
        scored.fiscal_period_end,
        scored.calendar_quarter_end,
        scored.investment_zscore,
        scored.results_zscore,
        scored.execution_gap,
        latest_complete.company_count,
        latest_complete.known_at_date,
    from scored
    inner join latest_complete on scored.calendar_quarter_end = latest_complete.calendar_quarter_end
)

select * from final
order by execution_gap desc, ticker
"""

# The latest policy events with a group CAR over days -1..+1, one row per event and group.
EVENTS_SQL = """
with latest_events as (
    select
        event_id,
        max(event_date) as event_date,
    from marts.policy_event_group_impact
    where car_m1_p1_mean_pct is not null
    group by event_id
    order by event_date desc, event_id desc
    limit $event_count
),

final as (
    select
        impact.event_id,
        impact.event_date,
        impact.category,
        impact.title,
        impact.group_name,
        impact.car_m1_p1_n,
        impact.car_m1_p1_mean_pct,
        impact.car_m1_p1_t_stat,
    from marts.policy_event_group_impact as impact
    inner join latest_events on impact.event_id = latest_events.event_id
)

select * from final
order by event_date, event_id, group_name
"""

# The latest evaluation of each group and horizon (the row with the greatest known_at), the
# reward measured against the group benchmark.
SIGNAL_SQL = """
with latest as (
    select * from marts.signal_evaluation
    where reward_basis = 'benchmark'
    qualify known_at = max(known_at) over (partition by group_name, horizon)
),

final as (
    select
        group_name,
        horizon,
        horizon_sessions,
        known_at,
        cross_section_count,
        observation_count,
        rank_ic_mean,
        rank_ic_t_stat_newey_west,
        newey_west_lag,
        rank_ic_hit_rate,
        tercile_spread_mean_pp,
        data_source,
    from latest
)

select * from final
order by horizon_sessions, group_name
"""

# The latest $max_months months (first_month_in_mart says whether earlier ones were left out).
INFLATION_SQL = """
with inflation as (
    select * from marts.inflation
),

bounds as (
    select
        min(month_date) as first_month_in_mart,
        cast(max(month_date) - to_months($max_months - 1) as date) as first_month_shown,
    from inflation
),

final as (
    select
        inflation.month_date,
        inflation.is_published,
        inflation.release_date,
        inflation.is_release_date_estimated,
        inflation.headline_yoy_pct,
        inflation.core_yoy_pct,
        inflation.headline_yoy_pct_1dp,
        inflation.core_yoy_pct_1dp,
        bounds.first_month_in_mart,
    from inflation
    cross join bounds
    where inflation.month_date >= bounds.first_month_shown
)

select * from final
order by month_date
"""


@dataclass(frozen=True)
class ReportData:
    """What the report charts, as read from one published warehouse."""

    database: Path
    database_found: bool
    marts_found: tuple[str, ...] = ()
    as_of: date | None = None
    is_sample: bool = False
    baskets: pd.DataFrame = field(default_factory=pd.DataFrame)
    securities: pd.DataFrame = field(default_factory=pd.DataFrame)
    execution_gap: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    inflation: pd.DataFrame = field(default_factory=pd.DataFrame)
    signal: pd.DataFrame = field(default_factory=pd.DataFrame)
    basket_max_points: int = BASKET_MAX_POINTS
    security_max_points: int = SECURITY_MAX_POINTS


def load_report_data(
    database: Path,
    *,
    event_count: int = 6,
    basket_max_points: int = BASKET_MAX_POINTS,
    security_max_points: int = SECURITY_MAX_POINTS,
    cpi_max_months: int = CPI_MAX_MONTHS,
) -> ReportData:
    """Read the report's frames from ``database`` (the published marts), read-only.

    Every frame is bounded by what the report draws, not by the history's length: the return
    series are thinned to at most ``basket_max_points`` / ``security_max_points`` points per
    series (:func:`thinned_series_sql`), CPI keeps the latest ``cpi_max_months`` months.
    """
    if not database.is_file():
        return ReportData(database=database, database_found=False)
    connection = duckdb.connect(str(database), read_only=True)
    try:
        found = tuple(
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by table_name"
            ).fetchall()
        )

        def frame(mart: str, sql: str, parameters: dict[str, Any] | None = None) -> pd.DataFrame:
            if mart not in found:
                return pd.DataFrame()
            return connection.execute(sql, parameters or {}).df()

        as_of = None
        if "relative_performance" in found:
            (as_of_value,) = connection.execute("select max(trade_date) from marts.relative_performance").fetchone()  # type: ignore[misc]
            as_of = as_of_value
        return ReportData(
            database=database,
            database_found=True,
            marts_found=found,
            as_of=as_of,
            is_sample=_has_sample_rows(connection, found),
            baskets=frame("relative_performance", BASKETS_SQL, {"max_points": basket_max_points}),
            securities=frame("relative_performance", SECURITIES_SQL, {"max_points": security_max_points}),
            execution_gap=frame("execution_gap", EXECUTION_GAP_SQL),
            events=frame("policy_event_group_impact", EVENTS_SQL, {"event_count": event_count}),
            inflation=frame("inflation", INFLATION_SQL, {"max_months": cpi_max_months}),
            signal=frame("signal_evaluation", SIGNAL_SQL),
            basket_max_points=basket_max_points,
            security_max_points=security_max_points,
        )
    finally:
        connection.close()


def _has_sample_rows(connection: duckdb.DuckDBPyConnection, found: tuple[str, ...]) -> bool:
    """True when any mart row says its data is sample (synthetic) data."""
    for mart in MARTS:
        if mart not in found:
            continue
        (flagged,) = connection.execute(
            f"select exists (select 1 from marts.{mart} where data_source ilike '%sample%')"
        ).fetchone()  # type: ignore[misc]
        if flagged:
            return True
    return False


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as dicts of plain Python values: dates as ``date``, missing values as ``None``.

    Converted a column at a time (what :func:`plain` does per cell, vectorised by dtype).
    """
    names = list(frame.columns)
    columns = [_plain_column(frame.iloc[:, position]) for position in range(len(names))]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _plain_column(column: pd.Series) -> list[Any]:
    if column.dtype == object:  # anything may be in there: cell by cell
        return [plain(value) for value in column.tolist()]
    present = column.notna()
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        column = column.dt.date
    return column.astype(object).where(present, None).tolist()


def plain(value: Any) -> Any:
    """A pandas/numpy cell as a plain Python value (``None`` for NaN, NaT and NA)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.date()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    return value
