"""Data access for the report: small frames read from the *published* marts, read-only.

Every query names the mart columns it charts; nothing here formats or draws. A mart that
is missing (no published warehouse yet, or an older one) reads as an empty frame, so the
report says "no data yet" instead of failing.
"""

from __future__ import annotations

import math
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
)

# Both baskets and their spread, daily (cum_return_usd is a fraction; the spread is in return points).
BASKETS_SQL = """
select
    series_id,
    series_type,
    trade_date,
    cum_return_usd,
from marts.relative_performance
where series_type in ('basket', 'spread')
order by series_id, trade_date
"""

# Each company against its benchmark, thinned to the last trading day of each week (plus the
# base date) so the small multiples stay light; the latest day is always a week's last.
SECURITIES_SQL = """
select
    series_id as ticker,
    group_name,
    benchmark_ticker,
    trade_date,
    cum_return_usd,
    benchmark_cum_return_usd,
from marts.relative_performance
where series_type = 'security'
    and group_name <> 'benchmark'
qualify trade_date = max(trade_date) over (partition by series_id, date_trunc('week', trade_date))
    or trade_date = min(trade_date) over (partition by series_id)
order by group_name, ticker, trade_date
"""

# The latest calendar quarter whose cross-section is complete: as many companies with both
# z-scores as the fullest quarter has (a quarter still in its reporting season has fewer).
EXECUTION_GAP_SQL = """
with scored as (
    select * from marts.execution_gap
    where investment_zscore is not null
        and results_zscore is not null
),

quarters as (
    select
        calendar_quarter_end,
        count(*) as company_count,
        max(zscores_known_from_date) as zscores_known_from_date,
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
        latest_complete.zscores_known_from_date,
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

INFLATION_SQL = """
select
    month_date,
    is_published,
    release_date,
    is_release_date_estimated,
    headline_yoy_pct,
    core_yoy_pct,
    headline_yoy_pct_1dp,
    core_yoy_pct_1dp,
from marts.inflation
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


def load_report_data(database: Path, *, event_count: int = 6) -> ReportData:
    """Read the report's frames from ``database`` (the published marts), read-only."""
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
            baskets=frame("relative_performance", BASKETS_SQL),
            securities=frame("relative_performance", SECURITIES_SQL),
            execution_gap=frame("execution_gap", EXECUTION_GAP_SQL),
            events=frame("policy_event_group_impact", EVENTS_SQL, {"event_count": event_count}),
            inflation=frame("inflation", INFLATION_SQL),
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
    """The frame's rows as dicts of plain Python values: dates as ``date``, missing values as ``None``."""
    return [{key: plain(value) for key, value in row.items()} for row in frame.to_dict("records")]


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
