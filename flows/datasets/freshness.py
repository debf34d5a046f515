"""Freshness and completeness rules, checked against each exchange's trading calendar.

Each dataset declares one rule (``Dataset.freshness``); ``flows.datasets.registry.freshness``
checks them all. A missing NYSE/Nasdaq/HKEX session for a ticker is flagged; a
holiday is not a session, so it never is. The rules here are the shared kinds:

- :class:`TradingSessions`: every listing has a row for every session of its exchange
  over the last two weeks; expected up to the last session (prices);
- :class:`Weekdays`: a row every weekday; expected up to the last weekday (FX fixings);
- :class:`LatestOnly`: reports the latest date, expects none (irregular data: reports, events).

A dataset with its own notion of "expected" (CPI: the latest month released by
the as-of date) defines its rule in its module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from flows.calendars import sessions
from flows.datasets.base import Freshness, Table

if TYPE_CHECKING:
    import duckdb

    from flows.settings import Settings

WINDOW_DAYS = 14  # completeness is checked over the sessions of the last two weeks


def latest_date(connection: duckdb.DuckDBPyConnection, table: Table, column: str, *, as_of: date | None) -> date | None:
    """The newest ``column`` value stored (on or before ``as_of`` when given)."""
    bound = "" if as_of is None else f" where {column} <= ?"
    (latest,) = connection.execute(
        f"select max({column}) from {table.name}{bound}", [] if as_of is None else [as_of]
    ).fetchone()
    return latest


@dataclass(frozen=True)
class LatestOnly:
    """The latest date held (on or before the as-of date); nothing is expected by a given day."""

    column: str

    def check(
        self, connection: duckdb.DuckDBPyConnection, *, name: str, table: Table, settings: Settings, as_of: date
    ) -> Freshness:
        return Freshness(name, latest_date(connection, table, self.column, as_of=as_of), None)


@dataclass(frozen=True)
class Weekdays:
    """A row is expected every weekday, up to the last weekday on or before the as-of date."""

    column: str

    def check(
        self, connection: duckdb.DuckDBPyConnection, *, name: str, table: Table, settings: Settings, as_of: date
    ) -> Freshness:
        last_weekday = max(pd.bdate_range(as_of - timedelta(days=7), as_of).date)
        return Freshness(name, latest_date(connection, table, self.column, as_of=as_of), last_weekday)


def expected_sessions(settings: Settings, as_of: date) -> pd.DataFrame:
    """The sessions of every exchange of the universe over the last WINDOW_DAYS: (exchange, trade_date)."""
    frames = []
    for exchange in settings.universe.exchanges:
        days = sessions(exchange, as_of - timedelta(days=WINDOW_DAYS), as_of)
        frames.append(pd.DataFrame({"exchange": exchange, "trade_date": days.date}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["exchange", "trade_date"])


@dataclass(frozen=True)
class TradingSessions:
    """Every listing (raw.securities) has a row on every session of its exchange in the last two weeks, from
    its first stored row on; expected up to the universe's last session on or before the as-of date."""

    column: str  # the session date
    key: str  # the listing key, joined to raw.securities.ticker

    def check(
        self, connection: duckdb.DuckDBPyConnection, *, name: str, table: Table, settings: Settings, as_of: date
    ) -> Freshness:
        expected = expected_sessions(settings, as_of)
        connection.register("expected_sessions", pa.Table.from_pandas(expected, preserve_index=False))
        try:
            missing = connection.execute(
                f"""
                select securities.ticker || ' ' || cast(expected_sessions.trade_date as varchar)
                from raw.securities as securities
                join expected_sessions on expected_sessions.exchange = securities.exchange
                where expected_sessions.trade_date >= (
                    select min(stored.{self.column}) from {table.name} as stored
                    where stored.{self.key} = securities.ticker
                )
                  and not exists (
                    select 1 from {table.name} as stored
                    where stored.{self.key} = securities.ticker
                      and stored.{self.column} = expected_sessions.trade_date
                )
                order by 1
                """
            ).fetchall()
        finally:
            connection.unregister("expected_sessions")
        last_session = max((day for day in expected["trade_date"]), default=None)
        latest = latest_date(connection, table, self.column, as_of=as_of)
        return Freshness(name, latest, last_session, [row[0] for row in missing])
