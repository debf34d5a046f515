"""Freshness and completeness against each exchange's trading calendar.

A missing NYSE/Nasdaq/HKEX session for a ticker is flagged; a holiday is not
a session, so it never is. FX is expected every weekday; CPI every month
once it counts as released (see ``cpi_month_is_released``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pandas as pd
import pyarrow as pa

from flows.calendars import sessions
from flows.settings import Settings
from flows.validation import cpi_month_is_released

WINDOW_DAYS = 14  # completeness is checked over the sessions of the last two weeks


@dataclass
class Freshness:
    dataset: str
    latest: date | None
    expected: date | None
    missing: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.latest is None:
            return "empty"
        if self.missing or (self.expected and self.latest < self.expected):
            return "stale"
        return "fresh"

    def describe(self) -> str:
        text = f"{self.dataset:<15}{self.status:<7} latest {self.latest}  expected {self.expected or '-'}"
        if self.missing:
            shown = ", ".join(self.missing[:6]) + (
                f" and {len(self.missing) - 6} more" if len(self.missing) > 6 else ""
            )
            text += f"  missing: {shown}"
        return text


def _expected_sessions(settings: Settings, as_of: date) -> pd.DataFrame:
    frames = []
    for exchange in settings.universe.exchanges:
        days = sessions(exchange, as_of - timedelta(days=WINDOW_DAYS), as_of)
        frames.append(pd.DataFrame({"exchange": exchange, "trade_date": days.date}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["exchange", "trade_date"])


def check(connection: duckdb.DuckDBPyConnection, settings: Settings, *, as_of: date) -> list[Freshness]:
    """Per dataset: latest date held, the date it should have reached, and missing sessions/days."""
    expected = _expected_sessions(settings, as_of)
    connection.register("expected_sessions", pa.Table.from_pandas(expected, preserve_index=False))
    try:
        missing_prices = connection.execute(
            """
            select securities.ticker || ' ' || cast(expected_sessions.trade_date as varchar)
            from raw.securities as securities
            join expected_sessions on expected_sessions.exchange = securities.exchange
            where expected_sessions.trade_date >= (
                select min(trade_date) from raw.prices where prices.ticker = securities.ticker
            )
              and not exists (
                select 1 from raw.prices
                where prices.ticker = securities.ticker and prices.trade_date = expected_sessions.trade_date
            )
            order by 1
            """
        ).fetchall()
    finally:
        connection.unregister("expected_sessions")
    latest = dict(
        connection.execute(
            """
            select 'prices', max(trade_date) from raw.prices where trade_date <= ? union all
            select 'fx_rates', max(rate_date) from raw.fx_rates where rate_date <= ? union all
            select 'fundamentals', max(report_date) from raw.fundamentals where report_date <= ? union all
            select 'cpi', max(period_date) from raw.cpi union all
            select 'policy_events', max(event_date) from raw.policy_events where event_date <= ?
            """,
            [as_of, as_of, as_of, as_of],
        ).fetchall()
    )
    last_session = max((d for d in expected["trade_date"]), default=None)
    last_weekday = max(pd.bdate_range(as_of - timedelta(days=7), as_of).date)
    month = date(as_of.year, as_of.month, 1)
    while not cpi_month_is_released(month, as_of=as_of, lag_days=settings.cpi_release_lag_days):
        month = (pd.Timestamp(month) - pd.offsets.MonthBegin(1)).date()
    if month == date(2025, 10, 1):  # never published (federal shutdown): the previous month is the latest
        month = date(2025, 9, 1)
    return [
        Freshness("prices", latest.get("prices"), last_session, [row[0] for row in missing_prices]),
        Freshness("fx_rates", latest.get("fx_rates"), last_weekday),
        Freshness("fundamentals", latest.get("fundamentals"), None),
        Freshness("cpi", latest.get("cpi"), month),
        Freshness("policy_events", latest.get("policy_events"), None),
    ]
