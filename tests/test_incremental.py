"""Incremental marts equal a full rebuild exactly.

The session warehouse was built in one go. A copy gets late revisions (a price 40 trading days back,
an FX fixing, a new day) and an incremental ``dbt build``; a second copy of the same raw data is
rebuilt with ``--full-refresh``. Every incremental model and every mart must match bit for bit
(lineage columns aside), and the incremental build must have rewritten only the dates the revisions
touched.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb

from conftest import Home, table_rows
from flows.settings import load_settings
from flows.warehouse import dbt as dbt_runner

INCREMENTAL = (
    "intermediate.int_daily_returns",
    "intermediate.int_performance_series",
    "intermediate.int_baskets_equal_weighted",
    "intermediate.int_baskets_cap_weighted",
    "intermediate.int_fundamentals_ttm",
    "intermediate.int_results_rewards",
    "intermediate.int_signal_cross_sections",
    "intermediate.int_policy_event_market_returns",
    "marts.execution_gap",
    "marts.relative_performance",
)
TABLES = (*INCREMENTAL, "marts.policy_event_impact", "marts.policy_event_group_impact", "marts.inflation")
REVISED_PRICE_DATE = date(2026, 9, 24)
REVISED_FX_DATE = date(2026, 10, 15)


STAMPED = {
    "intermediate.int_fundamentals_ttm": "ticker, fiscal_period_end, report_date",
    "marts.execution_gap": "ticker, fiscal_period_end, calendar_quarter_end, known_at",
    # the longest horizon's known_at: when the row's whole window was known (null while it is open)
    "intermediate.int_results_rewards": "ticker, fiscal_period_end, return_6m_known_at",
}


def _stamps(connection: duckdb.DuckDBPyConnection, table: str) -> dict[tuple, object]:
    """Each row's key -> the inputs_loaded_through it was written with."""
    rows = connection.execute(f"select {STAMPED[table]}, inputs_loaded_through from {table}").fetchall()
    return {row[:-1]: row[-1] for row in rows}


def _revise(database: Path) -> None:
    """Late revisions, loaded now: one price, one FX fixing (both rewritten with a new loaded_at), and a
    restatement of BABA's latest quarter (a new report 5 days after the first, revenue +5 %)."""
    connection = duckdb.connect(str(database))
    try:
        connection.execute(
            "update raw.prices set close = close * 1.01, adj_close = adj_close * 1.01, "
            "loaded_at = now()::timestamp, load_id = 'late-revision' where ticker = 'BABA' and trade_date = ?",
            [REVISED_PRICE_DATE],
        )
        connection.execute(
            "update raw.fx_rates set usd_per_unit = usd_per_unit * 1.002, loaded_at = now()::timestamp, "
            "load_id = 'late-revision' where currency = 'HKD' and rate_date = ?",
            [REVISED_FX_DATE],
        )
        connection.execute(
            "insert into raw.fundamentals by name "
            "select * replace (report_date + 5 as report_date, available_at + interval 5 day as available_at, "
            "revenue * 1.05 as revenue, "
            "'late-revision' as load_id, now()::timestamp as loaded_at) "
            "from raw.fundamentals where ticker = 'BABA' and period_months = 3 "
            "order by fiscal_period_end desc limit 1"
        )
    finally:
        connection.close()


def test_incremental_build_equals_a_full_rebuild_and_touches_only_revised_dates(
    tmp_path: Path, warehouse: Home
) -> None:
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    shutil.copytree(warehouse.path, incremental, ignore=shutil.ignore_patterns("gapwatch.lock"))
    _revise(incremental / "gapwatch.duckdb")
    connection = duckdb.connect(str(incremental / "gapwatch.duckdb"), read_only=True)
    before = dict(
        connection.execute(
            "select trade_date, max(inputs_loaded_through) from marts.relative_performance group by 1"
        ).fetchall()
    )
    stamps_before = {table: _stamps(connection, table) for table in STAMPED}
    connection.close()
    shutil.copytree(incremental, full)

    result = dbt_runner.build(load_settings({"GAPWATCH_HOME": str(incremental)}))
    assert result.success, result.output_tail
    result = dbt_runner.build(load_settings({"GAPWATCH_HOME": str(full)}), full_refresh=True)
    assert result.success, result.output_tail

    for table in TABLES:
        assert table_rows(incremental / "gapwatch.duckdb", table) == table_rows(full / "gapwatch.duckdb", table), table

    # only the dates on or after the earliest revision were rebuilt; everything before kept its rows
    connection = duckdb.connect(str(incremental / "gapwatch.duckdb"), read_only=True)
    after = dict(
        connection.execute(
            "select trade_date, max(inputs_loaded_through) from marts.relative_performance group by 1"
        ).fetchall()
    )
    revised_baba = connection.execute(
        "select adj_close from marts.relative_performance where series_id = 'BABA' and trade_date = ?",
        [REVISED_PRICE_DATE],
    ).fetchone()
    stamps_after = {table: _stamps(connection, table) for table in STAMPED}
    restated = connection.execute(
        "select is_restated from intermediate.int_execution_gap_latest_vintage where ticker = 'BABA' "
        "order by fiscal_period_end desc limit 1"
    ).fetchone()
    connection.close()
    rebuilt = sorted(day for day in after if after[day] != before[day])
    assert rebuilt and rebuilt[0] == REVISED_PRICE_DATE
    assert all(after[day] == before[day] for day in after if day < REVISED_PRICE_DATE)
    # fundamentals: only BABA's vintages were recomputed; execution gap: only the latest quarters
    ttm_before, ttm_after = (
        stamps_before["intermediate.int_fundamentals_ttm"],
        stamps_after["intermediate.int_fundamentals_ttm"],
    )
    assert {key[0] for key in ttm_after if ttm_after[key] != ttm_before.get(key)} == {"BABA"}
    gap_before, gap_after = stamps_before["marts.execution_gap"], stamps_after["marts.execution_gap"]
    rewritten_quarters = {key[2] for key in gap_after if gap_after[key] != gap_before.get(key)}
    assert rewritten_quarters and min(rewritten_quarters) >= date(2026, 6, 30), rewritten_quarters
    assert any(key[2] < date(2026, 1, 1) for key in gap_after)
    assert restated == (True,)
    # results rewards: a row was rewritten only if its window was open or reached the earliest revision
    rewards_before = stamps_before["intermediate.int_results_rewards"]
    rewards_after = stamps_after["intermediate.int_results_rewards"]
    rewritten = [key for key in rewards_after if rewards_after[key] != rewards_before.get(key)]
    assert rewritten and len(rewritten) < len(rewards_after) / 4, (len(rewritten), len(rewards_after))
    assert all(key[2] is None or key[2].date() >= REVISED_PRICE_DATE - timedelta(days=1) for key in rewritten)
    assert all(key[1] >= date(2026, 1, 1) for key in rewritten if key[2] is None)  # open windows: recent quarters
    original = warehouse.query(
        "select adj_close from marts.relative_performance "
        f"where series_id = 'BABA' and trade_date = '{REVISED_PRICE_DATE}'"
    )[0]
    assert abs(revised_baba[0] / original[0] - 1.01) < 1e-12


def test_a_build_with_nothing_new_rewrites_nothing(tmp_path: Path, warehouse: Home) -> None:
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    tables = {table: table_rows(home / "gapwatch.duckdb", table) for table in INCREMENTAL}
    connection = duckdb.connect(str(home / "gapwatch.duckdb"), read_only=True)
    stamps = connection.execute("select max(inputs_loaded_through) from marts.relative_performance").fetchone()
    connection.close()
    result = dbt_runner.build(load_settings({"GAPWATCH_HOME": str(home)}))
    assert result.success, result.output_tail
    assert {table: table_rows(home / "gapwatch.duckdb", table) for table in INCREMENTAL} == tables
    connection = duckdb.connect(str(home / "gapwatch.duckdb"), read_only=True)
    assert connection.execute("select max(inputs_loaded_through) from marts.relative_performance").fetchone() == stamps
    connection.close()


def test_a_changed_project_or_a_failed_previous_run_makes_the_next_build_a_full_refresh_and_says_which() -> None:
    from flows.daily import _full_refresh_reason
    from flows.warehouse.audit import PreviousBuilds as _PreviousBuilds

    # the latest run succeeded with this project: incremental
    assert _full_refresh_reason(_PreviousBuilds(last_run="a", last_good="a", earlier_runs=True), "a") is None
    # the project or universe changed since the last good build
    changed = _full_refresh_reason(_PreviousBuilds(last_run="a", last_good="a", earlier_runs=True), "b")
    assert changed is not None and "changed since the last good build" in changed
    # the latest run failed (or was interrupted): its build may have written rows its tests rejected. The reason
    # names the failed run, not a project change that did not happen
    failed = _full_refresh_reason(_PreviousBuilds(last_run=None, last_good="a", earlier_runs=True), "a")
    assert failed is not None and "previous run did not succeed" in failed and "changed" not in failed
    # no run yet: the first build creates every table whole anyway
    assert _full_refresh_reason(_PreviousBuilds(last_run=None, last_good=None, earlier_runs=False), "a") is None
    # only failed runs so far: the first of them may have left tables behind, so the next one rebuilds them whole
    first_failed = _full_refresh_reason(_PreviousBuilds(last_run=None, last_good=None, earlier_runs=True), "a")
    assert first_failed is not None and "previous run did not succeed" in first_failed
