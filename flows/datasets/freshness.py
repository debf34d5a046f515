"""Freshness and completeness rules, checked against each exchange's trading calendar.

Each dataset declares one rule (``Dataset.freshness``); ``flows.datasets.registry.freshness``
checks them all. A missing NYSE/Nasdaq/HKEX session for a ticker is flagged; a
holiday is not a session, so it never is. The rules here are the shared kinds:

- :class:`TradingSessions`: every listing has a row for every session of its exchange
  over the last two weeks; expected up to the last session (prices);
- :class:`Weekdays`: a row every weekday; expected up to the last weekday (FX fixings);
- :class:`LatestOnly`: reports the latest date, expects none (irregular data: reports);
- :class:`StatedCoverage`: a curated file states the last day it covers; stale after it.

A dataset with its own notion of "expected" (CPI: the latest month released by
the as-of date) defines its rule in its module.

Each rule answers with one date, ``stale_from`` (see :class:`flows.datasets.base.Freshness`): the status a
run, ``gapwatch status`` and ``dbt source freshness`` report all follow from it
(:func:`record` keeps it in audit.dataset_freshness for dbt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from flows.calendars import CalendarRangeError, sessions
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
        return Freshness(name, latest_date(connection, table, self.column, as_of=as_of), None, as_of=as_of)


@dataclass(frozen=True)
class StatedCoverage:
    """A curated file that states the last day it covers (``covered_through``): stale from the day after, whatever
    the latest row -- a calendar nobody extended says nothing about the weeks since, even with no gap in it."""

    column: str
    coverage: Callable[[Settings], tuple[date | None, str]]  # -> (covered through, where to extend it)

    def check(
        self, connection: duckdb.DuckDBPyConnection, *, name: str, table: Table, settings: Settings, as_of: date
    ) -> Freshness:
        covered_through, where = self.coverage(settings)
        latest = latest_date(connection, table, self.column, as_of=as_of)
        if covered_through is None:
            return Freshness(name, latest, None, as_of=as_of, note=f"no stated coverage: {where}")
        stale_from = covered_through + timedelta(days=1)
        note = f"covers events through {covered_through}"
        if as_of >= stale_from:
            note += f"; extend {where}"
        return Freshness(name, latest, covered_through, stale_from=stale_from, as_of=as_of, note=note)


@dataclass(frozen=True)
class Weekdays:
    """A row is expected every weekday, up to the last weekday on or before the as-of date."""

    column: str

    def check(
        self, connection: duckdb.DuckDBPyConnection, *, name: str, table: Table, settings: Settings, as_of: date
    ) -> Freshness:
        last_weekday = max(pd.bdate_range(as_of - timedelta(days=7), as_of).date)
        latest = latest_date(connection, table, self.column, as_of=as_of)
        stale_from = None if latest is None else (pd.Timestamp(latest) + pd.offsets.BDay(1)).date()
        return Freshness(name, latest, last_weekday, stale_from=stale_from, as_of=as_of)


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
        missed = [row[0] for row in missing]
        return Freshness(name, latest, last_session, missed, stale_from=next_session(settings, latest), as_of=as_of)


def next_session(settings: Settings, latest: date | None) -> date | None:
    """The first session of any exchange of the universe after ``latest``: data ending at ``latest`` is stale
    from that day (None when the bundled calendars end first)."""
    if latest is None:
        return None
    following = []
    for exchange in settings.universe.exchanges:
        try:
            days = sessions(exchange, latest + timedelta(days=1), latest + timedelta(days=WINDOW_DAYS))
        except CalendarRangeError:
            continue
        following += list(days.date[:1])
    return min(following, default=None)


FRESHNESS_TABLE = "audit.dataset_freshness"


def record(connection: duckdb.DuckDBPyConnection, checked: list[Freshness]) -> None:
    """Keep each dataset's verdict where ``dbt source freshness`` reads it (``_raw__sources.yml``): ``stale_at`` is
    the start of ``stale_from`` in New York, in UTC (an empty dataset or one with missing sessions is stale now: the
    epoch; one whose rule never goes stale by date: 9999-12-31), and
    ``dbt_loaded_at`` one day before it, for the sources' one-day warn_after. Rewritten whole on every run: every
    dataset is checked every time."""
    connection.execute(
        f"""
        create or replace table {FRESHNESS_TABLE} (
            dataset varchar primary key, latest date, stale_from date, stale_at timestamptz,
            dbt_loaded_at timestamptz, missing integer, checked_as_of date, checked_at timestamptz
        )"""
    )
    for row in checked:
        connection.execute(
            f"""
            insert into {FRESHNESS_TABLE}
            with verdict as (
                select case when ? then timestamptz '1970-01-01 00:00:00+00'
                            when ? is null then timestamptz '9999-12-31 00:00:00+00'
                            else timezone('America/New_York', cast(? as timestamp)) end as stale_at
            )
            select ?, ?, ?, stale_at, stale_at - interval 1 day, ?, ?, current_timestamp from verdict
            """,
            [
                row.latest is None or bool(row.missing),
                *(row.stale_from, row.stale_from),
                *(row.dataset, row.latest, row.stale_from, len(row.missing), row.as_of),
            ],
        )
