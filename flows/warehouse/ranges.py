"""A whole build in date ranges: the plan (which ranges, which stamps) passed to dbt as var ``build_range``.

A first build or a full refresh computes every model over the whole history. Over 25M price rows the windows
over each ticker's history (``int_daily_returns``: ``lag``, ``row_number``) need more than DuckDB's 4 GB in the
dbt process. So a whole build of more than GAPWATCH_BUILD_RANGE_ROWS price rows is run as a sequence of builds:
the first sees the world as of the end of the first date range, each next one a range more, the last one
everything. From the second on each is the ordinary incremental build, which recomputes only what the newly
visible rows touch -- the same path a daily run takes when new days arrive, which the tests hold equal to a
full rebuild. How dbt applies the plan: ``dbt_project/macros/build_range.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from flows.datasets import prices, registry
from flows.settings import Settings
from flows.warehouse.sql import quote_identifier


@dataclass(frozen=True)
class BuildRanges:
    starts: tuple[date, ...]  # the first date of each range after the first, ascending
    loaded_through: datetime  # the newest loaded_at of the raw tables when the plan was made
    visible_from: dict[str, list[str]]  # raw table (without schema) -> the date columns that make a row visible
    price_rows: tuple[int, ...]  # the price rows dated within each range

    def __len__(self) -> int:
        return len(self.starts) + 1

    def variables(self, index: int) -> dict[str, object]:
        """The var ``build_range`` of range ``index`` (0-based): rows visible before the next range's start."""
        return {
            "through": self.starts[index].isoformat() if index < len(self.starts) else None,
            "starts": [start.isoformat() for start in self.starts],
            "loaded_through": self.loaded_through.isoformat(sep=" "),
            "visible_from": self.visible_from,
        }

    def describe(self, index: int) -> str:
        """``range 2 of 7 (2009-01-02 to before 2010-12-30, 2,512,004 price rows)``."""
        first = "the start" if index == 0 else self.starts[index - 1].isoformat()
        last = f"before {self.starts[index].isoformat()}" if index < len(self.starts) else "the end"
        return f"range {index + 1} of {len(self)} ({first} to {last}, {self.price_rows[index]:,} price rows)"


def plan_for(connection: duckdb.DuckDBPyConnection, settings: Settings, *, price_rows: int) -> BuildRanges | None:
    """The date ranges of a whole build of this warehouse holding ``price_rows`` price rows
    (``registry.price_rows``), or None when they fit in one build of GAPWATCH_BUILD_RANGE_ROWS rows (or there are
    none). A row of a dataset becomes visible in the range holding the latest of its date and the date it became
    public (``registry.visible_from``)."""
    if price_rows <= settings.build_range_rows:
        return None
    table = prices.DATASET.table
    return plan(
        connection,
        price_table=table.name,
        price_date_column=table.date_column,
        rows_per_range=settings.build_range_rows,
        visible_from=registry.visible_from(),
    )


def plan(
    connection: duckdb.DuckDBPyConnection,
    *,
    price_table: str,
    price_date_column: str,
    rows_per_range: int,
    visible_from: dict[str, list[str]],
) -> BuildRanges | None:
    """Cut the price history into ranges of consecutive dates holding at most ``rows_per_range`` rows each (a
    single date holding more is a range of its own), as few as that allows and of about equal size: 2.6M rows
    at 2.5M a range are two ranges of 1.3M, not one of 2.5M and one of 0.1M. None when it fits in one
    range: an ordinary build."""
    per_date = connection.execute(
        f"select {quote_identifier(price_date_column)} as day, count(*) from {price_table} "
        "where day is not null group by day order by day"
    ).fetchall()
    total = sum(rows for _, rows in per_date)
    if total <= rows_per_range:
        return None
    share = total / -(-total // rows_per_range)  # the fewest ranges of at most rows_per_range, in equal shares
    starts: list[date] = []
    counts: list[int] = [0]
    before = 0
    for day, rows in per_date:
        # a new range where this date is nearer past the next share's end than before it, or would overflow
        if counts[-1] and (counts[-1] + rows > rows_per_range or before + rows / 2 >= len(counts) * share):
            starts.append(day)
            counts.append(0)
        counts[-1] += rows
        before += rows
    return BuildRanges(
        starts=tuple(starts),
        loaded_through=newest_load(connection),
        visible_from=visible_from,
        price_rows=tuple(counts),
    )


def newest_load(connection: duckdb.DuckDBPyConnection) -> datetime:
    """The newest ``loaded_at`` of every raw table."""
    tables = connection.execute(
        "select table_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = 'raw' and column_name = 'loaded_at' "
        "order by table_name"
    ).fetchall()
    newest = " union all ".join(
        f"select max(loaded_at) as stamp from raw.{quote_identifier(name)}" for (name,) in tables
    )
    (stamp,) = connection.execute(f"select cast(max(stamp) as timestamp) from ({newest})").fetchone()
    return stamp
