"""The warehouse schema: raw tables from the dataset registry, raw.securities, the audit tables.

Raw tables are created from each dataset's declared :class:`~flows.datasets.base.Table`;
a column a newer version declares is added to a warehouse an older version
created (``alter table ... add column``), so a warehouse is never rebuilt to
upgrade gapwatch.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from flows.datasets import registry
from flows.datasets.base import Column, Table
from flows.settings import Universe
from flows.warehouse.sql import quote_literal

AUDIT_DDL = Path(__file__).resolve().parent / "audit.sql"

# The configured universe (flows/config/universe.yaml), reloaded every run: not a dataset, but a raw table.
SECURITIES = Table(
    "raw.securities",
    (
        Column("ticker", "varchar", nullable=False, comment="natural key, e.g. '0700.HK', 'NVDA', '^HSI'"),
        Column("name", "varchar", nullable=False),
        Column("group_name", "varchar", nullable=False, comment="china_tech | us_ai_leader | benchmark"),
        Column("exchange", "varchar", nullable=False, comment="XNYS | XNAS | XHKG (trading calendar code)"),
        Column("currency", "varchar", nullable=False, comment="listing (trading) currency: USD | HKD"),
        Column("reporting_currency", "varchar", comment="currency of the financial statements"),
        Column("cik", "varchar", comment="SEC CIK, 10 digits, where known"),
        Column("benchmark_ticker", "varchar", comment="benchmark used for relative/abnormal returns"),
        Column("market_ticker", "varchar", comment="broad market proxy of the event study's market model"),
        Column("is_synthetic", "boolean", nullable=False, comment="true for tickers added by the sample scaler"),
        Column("source", "varchar", nullable=False, comment="'config'"),
    ),
    keys=("ticker",),
    date_column="loaded_at",
    comment="The configured universe, reloaded every run.",
)


# The trading sessions of the universe's exchanges (exchange_calendars, offline), reloaded with the universe:
# when each market opens and closes, in UTC. "Known before the close of D" is decided against close_at.
MARKET_SESSIONS = Table(
    "raw.market_sessions",
    (
        Column("exchange", "varchar", nullable=False, comment="XNYS | XNAS | XHKG (trading calendar code)"),
        Column("session_date", "date", nullable=False),
        Column("open_at", "timestamp", nullable=False, comment="the session's open, UTC"),
        Column("close_at", "timestamp", nullable=False, comment="the session's close, UTC (early closes included)"),
        Column("source", "varchar", nullable=False, comment="'exchange_calendars'"),
    ),
    keys=("exchange", "session_date"),
    date_column="session_date",
    comment="Trading sessions of the universe's exchanges, from the bundled exchange_calendars, reloaded every run.",
)


def raw_tables() -> list[Table]:
    return [SECURITIES, MARKET_SESSIONS, *(dataset.table for dataset in registry.DATASETS)]


def ensure(connection: duckdb.DuckDBPyConnection) -> None:
    """Create what is missing: schemas, audit tables, raw tables, and raw columns added since."""
    connection.execute(AUDIT_DDL.read_text())
    existing: dict[str, set[str]] = {}
    for schema, table, column in connection.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = 'raw'"
    ).fetchall():
        existing.setdefault(f"{schema}.{table}", set()).add(column)
    for table in raw_tables():
        if table.name not in existing:
            connection.execute(table.create_sql())
            comments = [f"comment on table {table.name} is {quote_literal(table.comment)}"] if table.comment else []
            comments += [
                f"comment on column {table.name}.{column.name} is {quote_literal(column.comment)}"
                for column in table.columns
                if column.comment
            ]
            for statement in comments:
                connection.execute(statement)
            continue
        for column in table.columns:
            if column.name not in existing[table.name]:
                for statement in table.add_column_sql(column):
                    connection.execute(statement)


def securities_rows(universe: Universe) -> list[dict[str, object]]:
    """raw.securities rows for the configured universe."""
    return [
        {
            "ticker": s.ticker,
            "name": s.name,
            "group_name": s.group,
            "exchange": s.exchange,
            "currency": s.currency,
            "reporting_currency": s.reporting_currency,
            "cik": s.cik,
            "benchmark_ticker": s.benchmark,
            "market_ticker": s.market,
            "is_synthetic": s.is_synthetic,
            "source": "config",
        }
        for s in universe.securities
    ]
