"""A whole build in date ranges (flows/warehouse/ranges.py, dbt_project/macros/build_range.sql).

The plan cuts the price history by rows; the staging models show each range's world (rows visible before
its end, stamped so change detection sees each range as a new load); the real daily flow built in ranges
equals the session warehouse, built whole, in every mart and intermediate table; and afterwards the next
ordinary build sees only what is loaded later.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from conftest import Home, table_rows
from flows.datasets import registry
from flows.settings import load_settings
from flows.warehouse import dbt as dbt_runner
from flows.warehouse import ranges

DAY = date(2026, 1, 5)


def _prices(path: Path, rows_per_day: list[int], loaded_at: list[str]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(path))
    connection.execute("create schema raw")
    connection.execute("create table raw.prices (ticker varchar, trade_date date, loaded_at timestamp)")
    connection.execute("create table raw.cpi (period_date date, loaded_at timestamp)")
    for offset, count in enumerate(rows_per_day):
        connection.executemany(
            "insert into raw.prices values (?, ?, ?)",
            [(f"T{n}", DAY + timedelta(days=offset), loaded_at[0]) for n in range(count)],
        )
    connection.execute("insert into raw.cpi values (date '2025-12-01', ?)", [loaded_at[1]])
    return connection


def _plan(connection: duckdb.DuckDBPyConnection, rows_per_range: int) -> ranges.BuildRanges | None:
    return ranges.plan(
        connection,
        price_table="raw.prices",
        price_date_column="trade_date",
        rows_per_range=rows_per_range,
        visible_from={"prices": ["trade_date"]},
    )


def test_the_plan_cuts_the_price_history_into_ranges_of_at_most_the_limit(tmp_path: Path) -> None:
    connection = _prices(tmp_path / "w.duckdb", [3, 4, 2, 9, 1, 1], ["2026-12-01 10:00:00", "2026-12-02 08:30:00.5"])
    plan = _plan(connection, 7)
    assert plan is not None
    # 3+4 | 2 | 9 (one day over the limit is a range of its own) | 1+1
    assert plan.starts == (DAY + timedelta(days=2), DAY + timedelta(days=3), DAY + timedelta(days=4))
    assert plan.price_rows == (7, 2, 9, 2)
    assert len(plan) == 4
    assert plan.loaded_through == datetime(2026, 12, 2, 8, 30, 0, 500000)  # the newest of every raw table
    assert plan.variables(0)["through"] == "2026-01-07"
    assert plan.variables(3)["through"] is None  # the last range sees every row
    assert plan.variables(1)["starts"] == ["2026-01-07", "2026-01-08", "2026-01-09"]
    assert plan.describe(1) == "range 2 of 4 (2026-01-07 to before 2026-01-08, 2 price rows)"
    assert _plan(connection, 20) is None  # fits in one build: an ordinary build
    assert _plan(connection, 19).price_rows == (9, 11)  # two of about equal size, not 18 and 2


def test_the_ranges_are_as_few_as_the_limit_allows_and_about_equal(tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    connection.execute("create schema raw")
    connection.execute(
        "create table raw.prices as select date '2000-01-03' + cast(range // 500 as integer) as trade_date, "
        "timestamp '2026-12-01' as loaded_at from range(2600000)"  # 2.6M rows, 500 a day
    )
    plan = _plan(connection, 2_500_000)
    assert plan is not None and plan.price_rows == (1_300_000, 1_300_000)
    assert _plan(connection, 2_600_000) is None
    plan = _plan(connection, 1_000_000)
    assert len(plan) == 3 and max(plan.price_rows) <= 1_000_000 and min(plan.price_rows) >= 800_000


def _compiled_staging(settings, variables: dict) -> dict[str, str]:  # type: ignore[no-untyped-def]
    options = dbt_runner.vars_options(settings, build_range=variables)
    result = dbt_runner.run_dbt(settings, "compile", "--select", "path:models/staging", *options)
    assert result.success, result.output_tail
    compiled = settings.paths.dbt_target / "compiled" / "gapwatch" / "models" / "staging" / "raw"
    return {path.stem: path.read_text() for path in compiled.glob("stg_raw__*.sql")}


def test_a_range_shows_the_rows_visible_before_its_end_stamped_by_their_range(warehouse: Home) -> None:
    """Compile the staging models for one range against the session warehouse and read them: only rows whose
    date and publication date are before the range's end, each stamped by its own range; tables without dates
    (the calendar, the universe) whole, stamped as the first range."""
    with warehouse:
        settings = load_settings()
        connection = duckdb.connect(str(settings.paths.database), read_only=True)
        try:
            loaded_through = ranges.newest_load(connection)
        finally:
            connection.close()
        plan = ranges.BuildRanges(
            starts=(date(2024, 1, 2), date(2025, 6, 2)),
            loaded_through=loaded_through,
            visible_from=registry.visible_from(),
            price_rows=(0, 0, 0),
        )
        staging = _compiled_staging(settings, plan.variables(1))  # dbt opens the warehouse: before we do
        connection = duckdb.connect(str(settings.paths.database), read_only=True)
        try:

            def stamps(model: str, by: str) -> list[tuple]:
                return connection.execute(
                    f"select {by} as visible, loaded_at from ({staging[model]}) group by all order by all"
                ).fetchall()

            prices = stamps("stg_raw__prices", "trade_date")
            assert prices, "no price rows in the first two ranges"
            assert max(day for day, _ in prices) < date(2025, 6, 2)
            for day, stamp in prices:
                assert stamp == loaded_through - timedelta(microseconds=2 if day < date(2024, 1, 2) else 1), day
            # CPI: a month's print is used from its release (available_at), weeks after its period_date
            cpi = stamps("stg_raw__cpi_observations", "greatest(month_date, cast(available_at as date))")
            assert max(day for day, _ in cpi) < date(2025, 6, 2)
            (released_later,) = connection.execute(
                "select count(*) from raw.cpi "
                "where period_date < date '2025-06-02' and cast(available_at as date) >= date '2025-06-02'"
            ).fetchone()
            (shown,) = connection.execute(f"select count(*) from ({staging['stg_raw__cpi_observations']})").fetchone()
            (dated_before,) = connection.execute(
                "select count(*) from raw.cpi where period_date < date '2025-06-02'"
            ).fetchone()
            assert released_later > 0
            assert shown == dated_before - released_later
            sessions = stamps("stg_raw__market_sessions", "session_date")
            (all_sessions,) = connection.execute(
                "select count(distinct session_date) from raw.market_sessions"
            ).fetchone()
            assert len({day for day, _ in sessions}) == all_sessions
            assert {stamp for _, stamp in sessions} == {loaded_through - timedelta(microseconds=2)}
        finally:
            connection.close()


def test_a_daily_run_built_in_ranges_equals_the_whole_build(tmp_path: Path, warehouse: Home) -> None:
    """The real daily flow with GAPWATCH_BUILD_RANGE_ROWS at 12,000 (three ranges of the embedded sample's
    30,525 price rows) against the session warehouse, built whole: every mart and intermediate table equal,
    row for row; then each incremental model's newest stamp is the newest real load, so the next ordinary
    build recomputes only what is loaded after it, and the staging views show the real loaded_at again."""
    home = Home(tmp_path / "ranged", GAPWATCH_BUILD_RANGE_ROWS="12000")
    with home:
        summary = home.run()
    assert summary.success, "\n".join(summary.errors)
    assert summary.dbt.ranges == 3
    database, session = home.path / "gapwatch.duckdb", warehouse.path / "gapwatch.duckdb"
    tables = [
        f"{schema}.{name}"
        for schema, name in warehouse.query(
            "select schema_name, table_name from duckdb_tables() where schema_name in ('marts', 'intermediate') "
            "order by all"
        )
    ]
    assert len(tables) >= 15
    for table in tables:
        assert table_rows(database, table) == table_rows(session, table), table
    connection = duckdb.connect(str(database), read_only=True)
    try:
        newest_load = ranges.newest_load(connection)
    finally:
        connection.close()
    tracked = home.query(
        "select table_schema || '.' || table_name from information_schema.columns "
        "where column_name = 'inputs_loaded_through' and table_catalog = current_database() order by all"
    )
    assert len(tracked) >= 8
    for (table,) in tracked:
        assert home.query(f"select max(inputs_loaded_through) from {table}") == [(newest_load,)], table
    assert home.query("select max(loaded_at) from staging.stg_raw__prices") == home.query(
        "select max(loaded_at) from raw.prices"
    )


def test_a_failing_range_stops_the_sequence_and_names_its_range(tmp_path: Path, warehouse: Home) -> None:
    """A range whose build fails ends the sequence there, and its failures say which range it was."""
    home = Home(tmp_path / "failing")
    with home:
        settings = load_settings()
        settings.paths.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(warehouse.path / "gapwatch.duckdb", settings.paths.database)
        connection = duckdb.connect(str(settings.paths.database))
        try:
            plan = ranges.plan_for(
                connection, replace(settings, build_range_rows=12_000), price_rows=registry.price_rows(connection)
            )
            # a price dated in the second range that breaks a data test: the same ticker and date twice
            connection.execute(
                "insert into raw.prices select * from raw.prices "
                "where trade_date = (select min(trade_date) from raw.prices where trade_date >= ?) limit 1",
                [plan.starts[0]],
            )
        finally:
            connection.close()
        seen: list[int] = []
        result = dbt_runner.build_in_ranges(
            settings, plan, full_refresh=True, on_range=lambda index, outcome: seen.append(index)
        )
    assert not result.success
    assert seen == [0, 1]
    assert result.ranges == 2
    assert result.failures and all(failure.startswith("range 2 of 3 (") for failure in result.failures)
