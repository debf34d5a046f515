"""Incremental publishing: the published copies equal the warehouse marts, at the cost of what changed.

Small mart tables are built directly in a temporary warehouse (no pipeline run): an incremental mart
shaped like relative_performance (key series_id + trade_date, stamped with inputs_loaded_through) and
two full-rebuild marts. Every publish must leave ``published/gapwatch.duckdb`` and the Parquet views
holding exactly the warehouse's rows (EXCEPT ALL both ways) and column types. Unchanged years of the
Parquet copy are hard links to the previous version's files; a schema change, a full refresh or a
copy that would differ is published whole. ``kill -9`` inside either half of a publish leaves what
readers see untouched.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from flows.ops import progress
from flows.settings import load_settings
from flows.warehouse.database import Warehouse
from flows.warehouse.publish import PublishError, publish, rollback, rollback_note

BUILDS = [datetime(2026, 11, day, 22, 0) for day in range(16, 24)]  # inputs_loaded_through of successive builds

# The part of dbt's manifest.json publishing reads, for the three marts built below: two incremental marts
# (unique_key) partitioned in Parquet (meta.publish.parquet_partition_by), one table.
MANIFEST_NODES = {
    "relative_performance": {"materialized": "incremental", "unique_key": ["series_id", "trade_date"],
                             "meta": {"publish": {"parquet_partition_by": "trade_date"}}},
    "execution_gap": {"materialized": "incremental", "unique_key": ["ticker", "fiscal_period_end"],
                      "meta": {"publish": {"parquet_partition_by": "fiscal_period_end"}}},
    "inflation": {"materialized": "table", "meta": {}},
}  # fmt: skip


def _warehouse(home: Path) -> Warehouse:
    target = home / "dbt_target"
    target.mkdir(parents=True, exist_ok=True)
    nodes = {
        f"model.gapwatch.{name}": {"resource_type": "model", "name": name, "alias": name, "schema": "marts",
                                   "config": config}
        for name, config in MANIFEST_NODES.items()
    }  # fmt: skip
    (target / "manifest.json").write_text(__import__("json").dumps({"nodes": nodes}))
    return Warehouse(load_settings({"GAPWATCH_HOME": str(home)}))


def _create_marts(warehouse: Warehouse) -> None:
    """Three small marts: weekly prices 2023-01-02 .. 2026-11-16 for three series, quarters, months."""
    with warehouse.transaction() as cursor:
        cursor.execute("create schema marts")
        cursor.execute(
            """
            create table marts.relative_performance as
            select
                series_id,
                day::date as trade_date,
                (hash(series_id, day) % 10000) / 100.0 as adj_close,
                'load-1' as load_id,
                ?::timestamp as inputs_loaded_through,
            from (values ('AAA'), ('BBB'), ('HSI')) as series (series_id),
                range(date '2023-01-02', date '2026-11-17', interval 7 day) as days (day)
            order by series_id, trade_date
            """,
            [BUILDS[0]],
        )
        cursor.execute(
            """
            create table marts.execution_gap as
            select
                ticker,
                last_day(month::date) as fiscal_period_end,
                (hash(ticker, month) % 1000)::double as revenue_usd,
            from (values ('AAA'), ('BBB')) as tickers (ticker),
                range(date '2023-01-01', date '2026-10-01', interval 3 month) as months (month)
            """
        )
        cursor.execute(
            "create table marts.inflation as select month::date as month_date, 3.0 as headline_yoy_pct "
            "from range(date '2024-01-01', date '2026-09-01', interval 1 month) as months (month)"
        )


@pytest.fixture
def warehouse(tmp_path: Path):  # type: ignore[no-untyped-def]
    warehouse = _warehouse(tmp_path / "home")
    _create_marts(warehouse)
    yield warehouse
    warehouse.close()


def published_differences(cursor: duckdb.DuckDBPyConnection, published: Path) -> dict[str, list]:
    """Per published copy (``published/gapwatch.duckdb``, the Parquet views), what differs from the marts of
    the warehouse ``cursor`` reads: tables, column names and types, rows (EXCEPT ALL both ways)."""
    cursor.execute(f"attach '{published / 'gapwatch.duckdb'}' as published_copy (read_only)")
    cursor.execute(f"attach '{published / 'marts_parquet.duckdb'}' as parquet_views (read_only)")
    try:

        def names(catalog: str) -> list[str]:
            return [
                name
                for (name,) in cursor.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = ? and table_schema = 'marts' order by 1",
                    [catalog],
                ).fetchall()
            ]

        marts = names(cursor.execute("select current_database()").fetchone()[0])
        differences: dict[str, list] = {}
        for copy in ("published_copy", "parquet_views"):
            found = differences.setdefault(copy, [])
            if names(copy) != marts:
                found.append(("tables", names(copy), marts))
            for name in set(marts) & set(names(copy)):
                columns = [row[:2] for row in cursor.execute(f"describe marts.{name}").fetchall()]
                copied = [row[:2] for row in cursor.execute(f"describe {copy}.marts.{name}").fetchall()]
                if copy == "parquet_views" and MANIFEST_NODES.get(name, {}).get("meta"):
                    assert copied.pop() == ("year", "BIGINT")  # the hive partition column
                if copied != columns:
                    found.append((name, "columns", copied, columns))
                    continue
                select = ", ".join(f'"{column}"' for column, _ in columns)
                for first, second in (("marts", f"{copy}.marts"), (f"{copy}.marts", "marts")):
                    extra = cursor.execute(
                        f"select {select} from {first}.{name} except all select {select} from {second}.{name}"
                    ).fetchall()
                    if extra:
                        found.append((name, f"only in {first}", sorted(extra, key=repr)))
        return differences
    finally:
        cursor.execute("detach published_copy")
        cursor.execute("detach parquet_views")


def _assert_published_equals_warehouse(warehouse: Warehouse) -> None:
    cursor = warehouse.cursor()
    try:
        differences = published_differences(cursor, warehouse.settings.paths.published_dir)
    finally:
        cursor.close()
    assert differences == {"published_copy": [], "parquet_views": []}


def _newest_version(warehouse: Warehouse) -> Path:
    return max((warehouse.settings.paths.published_dir / "parquet").iterdir())


def _inodes(folder: Path) -> dict[str, int]:
    """Inode of every Parquet file under a mart's version folder, by relative path."""
    return {str(path.relative_to(folder)): path.stat().st_ino for path in sorted(folder.rglob("*.parquet"))}


def _rowid(warehouse: Warehouse, series_id: str, trade_date: str) -> int:
    """Where a row sits in the published copy: rows a refresh re-inserted come after every earlier row."""
    cursor = warehouse.cursor()
    try:
        cursor.execute(f"attach '{warehouse.settings.paths.published_database}' as published_copy (read_only)")
        (rowid,) = cursor.execute(
            "select rowid from published_copy.marts.relative_performance where series_id = ? and trade_date = ?",
            [series_id, trade_date],
        ).fetchone()
        cursor.execute("detach published_copy")
        return int(rowid)
    finally:
        cursor.close()


def _new_build(warehouse: Warehouse, build: datetime, *, day: str, revised: tuple[str, str] | None = None) -> None:
    """What an incremental dbt build does to relative_performance: a new day, optionally a revised older row,
    all stamped with the build's inputs_loaded_through."""
    with warehouse.transaction() as cursor:
        cursor.execute(
            "insert into marts.relative_performance by name "
            "select * replace (?::date as trade_date, adj_close + 1 as adj_close, 'load-new' as load_id, "
            "?::timestamp as inputs_loaded_through) "
            "from marts.relative_performance "
            "where trade_date = (select max(trade_date) from marts.relative_performance)",
            [day, build],
        )
        if revised:
            cursor.execute(
                "update marts.relative_performance set adj_close = adj_close * 1.01, inputs_loaded_through = ? "
                "where series_id = ? and trade_date = ?",
                [build, *revised],
            )


def test_an_incremental_publish_copies_only_rebuilt_rows_and_links_untouched_years(warehouse: Warehouse) -> None:
    publish(warehouse)
    _assert_published_equals_warehouse(warehouse)
    first = _newest_version(warehouse)
    rows_before = warehouse.mart_row_counts()["relative_performance"]

    _new_build(warehouse, BUILDS[1], day="2026-11-23", revised=("BBB", "2025-03-03"))
    with warehouse.transaction() as cursor:  # the full-rebuild marts change too
        cursor.execute("insert into marts.inflation values ('2026-09-01', 2.9)")
        cursor.execute("update marts.execution_gap set revenue_usd = revenue_usd + 1 where ticker = 'AAA'")
    publish(warehouse)

    _assert_published_equals_warehouse(warehouse)
    second = _newest_version(warehouse)
    assert second != first
    published = warehouse.settings.paths.published_dir
    assert sorted(path.name for path in published.iterdir()) == [
        "gapwatch.duckdb", "marts_parquet.duckdb", "parquet", "previous"
    ]  # fmt: skip
    # the DuckDB copy was refreshed in place: the revised row was deleted and re-inserted after the 608 rows
    # kept (a full copy would have left it in the warehouse's order, among the other BBB rows)
    assert _rowid(warehouse, "BBB", "2025-03-03") >= rows_before - 1
    assert _rowid(warehouse, "BBB", "2025-03-10") < rows_before
    # Parquet: the years without rebuilt rows are the previous version's files, the others were rewritten
    before, after = _inodes(first / "relative_performance"), _inodes(second / "relative_performance")
    assert sorted(after) == [f"year={year}/data_0.parquet" for year in range(2023, 2027)]
    assert {path for path in after if after[path] == before[path]} == {
        "year=2023/data_0.parquet",
        "year=2024/data_0.parquet",
    }
    assert os.stat(second / "relative_performance/year=2024/data_0.parquet").st_nlink == 2
    # execution_gap has no inputs_loaded_through: written whole
    assert not set(_inodes(first / "execution_gap").values()) & set(_inodes(second / "execution_gap").values())

    # a third publish keeps the two newest versions; the linked files outlive the first one
    _new_build(warehouse, BUILDS[2], day="2026-11-30")
    publish(warehouse)
    _assert_published_equals_warehouse(warehouse)
    assert not first.exists() and second.exists()
    assert (
        _inodes(_newest_version(warehouse) / "relative_performance")["year=2023/data_0.parquet"]
        == (before["year=2023/data_0.parquet"])
    )


def test_nothing_rebuilt_links_every_year(warehouse: Warehouse) -> None:
    publish(warehouse)
    first = _newest_version(warehouse)
    publish(warehouse)
    _assert_published_equals_warehouse(warehouse)
    assert _inodes(_newest_version(warehouse) / "relative_performance") == _inodes(first / "relative_performance")


def test_a_new_column_a_new_year_and_a_full_refresh_are_published_correctly(warehouse: Warehouse) -> None:
    publish(warehouse)

    # dbt's on_schema_change='append_new_columns': a new column, filled for the rows this build wrote
    with warehouse.transaction() as cursor:
        cursor.execute("alter table marts.relative_performance add column drawdown_pct double")
    _new_build(warehouse, BUILDS[1], day="2026-11-23")
    with warehouse.transaction() as cursor:
        cursor.execute("update marts.relative_performance set drawdown_pct = -1.5 where trade_date = '2026-11-23'")
    previous = _newest_version(warehouse)
    publish(warehouse)
    _assert_published_equals_warehouse(warehouse)
    rewritten = _inodes(_newest_version(warehouse) / "relative_performance")
    assert not set(rewritten.values()) & set(_inodes(previous / "relative_performance").values())  # all of it

    # a year the previous version does not hold is written, the others linked
    previous = _newest_version(warehouse)
    _new_build(warehouse, BUILDS[2], day="2027-01-04")
    publish(warehouse)
    _assert_published_equals_warehouse(warehouse)
    before, after = (
        _inodes(previous / "relative_performance"),
        _inodes(_newest_version(warehouse) / "relative_performance"),
    )
    assert sorted(path for path in after if after[path] == before.get(path)) == [
        f"year={year}/data_0.parquet" for year in range(2023, 2027)
    ]
    assert "year=2027/data_0.parquet" in after

    # --full-refresh: every row stamped anew, and a row the new build no longer produces
    with warehouse.transaction() as cursor:
        cursor.execute(
            "create or replace table marts.relative_performance as "
            "select * replace (? as inputs_loaded_through) from marts.relative_performance "
            "where not (series_id = 'HSI' and trade_date = '2024-06-03')",
            [BUILDS[3]],
        )
    publish(warehouse)
    _assert_published_equals_warehouse(warehouse)


def test_a_refresh_that_would_differ_from_the_warehouse_is_published_whole(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    publish(warehouse)
    previous = _newest_version(warehouse)
    # rows deleted outside a build (no new stamp): refreshing only the rebuilt rows would keep them
    with warehouse.transaction() as cursor:
        cursor.execute("delete from marts.relative_performance where series_id = 'HSI' and year(trade_date) = 2023")
    _new_build(warehouse, BUILDS[1], day="2026-11-23")
    lines = io.StringIO()
    with progress.use(progress.PlainReporter(lines)):
        publish(warehouse)
    _assert_published_equals_warehouse(warehouse)
    # the check after the refresh caught it, in both copies: told as lines of the run's progress (the CLI keeps
    # raw log records off the console) and kept as warning records for log collectors
    told = [
        "The published copy of relative_performance differs from the warehouse after a refresh; copying it whole.",
        "The Parquet version of relative_performance differs from the warehouse; writing it whole.",
    ]
    assert [record.getMessage() for record in caplog.records] == told
    assert lines.getvalue().splitlines() == [f"[publish] {message}" for message in told]
    after = _inodes(_newest_version(warehouse) / "relative_performance")
    assert not set(after.values()) & set(_inodes(previous / "relative_performance").values())


def test_marts_gone_from_the_warehouse_are_dropped_and_new_ones_copied(warehouse: Warehouse) -> None:
    publish(warehouse)
    with warehouse.transaction() as cursor:
        cursor.execute("drop table marts.inflation")
        cursor.execute("create table marts.policy_event_impact as select 'e1' as event_id, 0.5 as car_pct")
    publish(warehouse)
    _assert_published_equals_warehouse(warehouse)


def test_a_failed_publish_removes_its_staging_file_and_leaves_the_published_file_alone(
    warehouse: Warehouse,
) -> None:
    """Publish fails after staging the DuckDB copy (the Parquet folder is a file): the staged copy is removed and
    the published file is byte-identical. (A damaged published file is rebuilt whole: test_publish_faults.py.)"""
    publish(warehouse)
    published = warehouse.settings.paths.published_database
    before = _sha256(published)
    parquet = published.parent / "parquet"
    shutil.rmtree(parquet)
    parquet.write_text("not a folder")
    with pytest.raises(OSError):
        publish(warehouse)
    assert _sha256(published) == before
    assert sorted(path.name for path in published.parent.iterdir()) == [
        "gapwatch.duckdb",
        "marts_parquet.duckdb",
        "parquet",
    ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kill_publish_at(home: Path, fault: str) -> None:
    """Run publish in another process, SIGKILL it when it parks at the fault point."""
    paused = home / "fault-paused"
    paused.unlink(missing_ok=True)
    environment = {**os.environ, "GAPWATCH_HOME": str(home), "GAPWATCH_FAULT_PAUSE": fault}
    code = "from flows.settings import load_settings; from flows.warehouse.database import Warehouse; "
    code += "from flows.warehouse.publish import publish; "
    code += "publish(Warehouse(load_settings()))"
    process = subprocess.Popen([sys.executable, "-c", code], env=environment)
    deadline = time.monotonic() + 120
    while not paused.exists():
        assert process.poll() is None, "publish ended before the crash point"
        assert time.monotonic() < deadline, "the crash point was never reached"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_kill_9_inside_an_incremental_publish_leaves_the_published_copies_as_they_were(tmp_path: Path) -> None:
    home = tmp_path / "home"
    warehouse = _warehouse(home)
    _create_marts(warehouse)
    publish(warehouse)
    first = _newest_version(warehouse)
    _new_build(warehouse, BUILDS[1], day="2026-11-23", revised=("AAA", "2026-02-02"))
    warehouse.close()
    published = home / "published"
    database, views = _sha256(published / "gapwatch.duckdb"), _sha256(published / "marts_parquet.duckdb")

    # 1. killed with the refreshed copy staged, before the rename: readers still see the old file
    _kill_publish_at(home, "publish:duckdb")
    assert _sha256(published / "gapwatch.duckdb") == database
    assert _sha256(published / "marts_parquet.duckdb") == views

    # 2. killed with a new Parquet version half written, before its views are swapped in
    _kill_publish_at(home, "publish:parquet")
    assert _sha256(published / "marts_parquet.duckdb") == views
    partial = max((published / "parquet").iterdir())
    assert partial != first

    # 3. the next publish starts from what the views read (not the unfinished version) and converges
    warehouse = _warehouse(home)
    try:
        _new_build(warehouse, BUILDS[2], day="2026-11-30")
        publish(warehouse)
        _assert_published_equals_warehouse(warehouse)
        newest = _newest_version(warehouse)
        assert newest not in (first, partial)
        assert first.exists()  # kept: readers of the views swapped out may still be reading it
        assert (
            _inodes(newest / "relative_performance")["year=2023/data_0.parquet"]
            == (_inodes(first / "relative_performance")["year=2023/data_0.parquet"])
        )
    finally:
        warehouse.close()


def _published_contents(published_dir: Path) -> dict[str, list]:
    """Every mart's rows in the published DuckDB copy and through the Parquet views, sorted."""
    contents = {}
    for name in ("gapwatch.duckdb", "marts_parquet.duckdb"):
        connection = duckdb.connect(str(published_dir / name), read_only=True)
        try:
            for mart in ("relative_performance", "execution_gap", "inflation"):
                contents[f"{name}:{mart}"] = sorted(
                    connection.execute(f"select * exclude (inputs_loaded_through) from marts.{mart}").fetchall()
                    if mart == "relative_performance"
                    else connection.execute(f"select * from marts.{mart}").fetchall(),
                    key=repr,
                )
        finally:
            connection.close()
    return contents


def test_rollback_restores_the_previous_published_version_and_a_second_rollback_undoes_it(
    warehouse: Warehouse,
) -> None:
    published = warehouse.settings.paths.published_dir
    publish(warehouse)
    with pytest.raises(PublishError, match=r"Nothing to roll back to: .*previous.* does not exist yet"):
        rollback(warehouse.settings)  # one publish: nothing before it
    first = _published_contents(published)
    _new_build(warehouse, BUILDS[1], day="2026-11-23", revised=("BBB", "2025-03-03"))
    with warehouse.transaction() as cursor:
        cursor.execute("insert into marts.inflation values ('2026-09-01', 2.9)")
    publish(warehouse)
    second = _published_contents(published)
    assert second != first

    done = rollback(warehouse.settings)
    # BI readers see the first version again, in both copies, and status can say so
    assert _published_contents(published) == first
    assert done.restored < done.replaced  # publish ids are timestamps
    assert rollback_note(warehouse.settings)["restored"] == done.restored
    # the warehouse is unchanged: its marts are the second build's, so the published copy no longer verifies
    # against it and the next run republishes (daily._marts_are_current)
    from flows.warehouse.publish import verify_published

    assert "does not hold the warehouse's marts" in (verify_published(warehouse) or "")

    again = rollback(warehouse.settings)  # undo the rollback
    assert (again.restored, again.replaced) == (done.replaced, done.restored)
    assert _published_contents(published) == second
    assert verify_published(warehouse) is None

    rollback(warehouse.settings)
    publish(warehouse)  # the next publish replaces the rolled-back version and clears the note
    assert _published_contents(published) == second
    assert rollback_note(warehouse.settings) is None
    _assert_published_equals_warehouse(warehouse)
    rollback(warehouse.settings)  # the version kept before that publish was the rolled-back one
    assert _published_contents(published) == first


def test_a_damaged_previous_version_is_not_restored(warehouse: Warehouse) -> None:
    publish(warehouse)
    _new_build(warehouse, BUILDS[1], day="2026-11-23")
    publish(warehouse)
    published = warehouse.settings.paths.published_dir
    before = _published_contents(published)
    previous_views = published / "previous" / "marts_parquet.duckdb"
    previous_views.unlink()
    refused = r"is incomplete or does not verify\. .*current published marts are unchanged"
    with pytest.raises(PublishError, match=refused):
        rollback(warehouse.settings)
    assert _published_contents(published) == before
    _assert_published_equals_warehouse(warehouse)


def test_the_rollback_command_restores_and_says_what_it_did(warehouse: Warehouse, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from flows.cli import app

    publish(warehouse)
    first = _published_contents(warehouse.settings.paths.published_dir)
    monkeypatch.setenv("GAPWATCH_HOME", str(warehouse.settings.paths.home))
    result = CliRunner().invoke(app, ["rollback"])
    assert result.exit_code == 1 and "Nothing to roll back to" in result.output
    _new_build(warehouse, BUILDS[1], day="2026-11-23")
    publish(warehouse)
    result = CliRunner().invoke(app, ["rollback"])
    assert result.exit_code == 0, result.output
    assert "Restored publish" in result.output and "the next `gapwatch run` publishes its marts again" in result.output
    assert _published_contents(warehouse.settings.paths.published_dir) == first
