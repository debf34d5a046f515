"""The DuckDB warehouse: schema, set-based upserts, audit records, publishing.

This module knows DuckDB and nothing about HTTP or sources. Batches arrive as
pandas DataFrames and are loaded through Arrow in one statement each -- never
row by row.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa

from flows.settings import Settings

if TYPE_CHECKING:
    from flows.validation import ValidationReport

DDL_PATH = Path(__file__).resolve().parent / "ddl.sql"
MART_SCHEMA = "marts"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableSpec:
    table: str
    keys: tuple[str, ...]
    date_column: str


TABLES: dict[str, TableSpec] = {
    "securities": TableSpec("raw.securities", ("ticker",), "loaded_at"),
    "prices": TableSpec("raw.prices", ("ticker", "trade_date"), "trade_date"),
    "fx_rates": TableSpec("raw.fx_rates", ("currency", "rate_date"), "rate_date"),
    "fundamentals": TableSpec(
        "raw.fundamentals", ("ticker", "fiscal_period_end", "period_months", "report_date"), "report_date"
    ),
    "cpi": TableSpec("raw.cpi", ("series_id", "period_date"), "period_date"),
    "policy_events": TableSpec("raw.policy_events", ("event_id",), "event_date"),
}
# Columns that describe a load rather than the data: not compared when deciding whether a row changed.
LOAD_COLUMNS = ("load_id", "loaded_at")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Warehouse:
    """One DuckDB database file, shared by the threads of one pipeline process.

    Writers serialise on a lock: batches are validated concurrently, loaded one
    at a time, each in its own transaction.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.paths.database
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = duckdb.connect(
            str(self.path),
            config={
                "threads": settings.duckdb_threads,
                "memory_limit": settings.duckdb_memory_limit,
                "temp_directory": str(settings.paths.home / "duckdb_tmp"),
            },
        )
        self._write_lock = threading.Lock()
        self._connection.execute(DDL_PATH.read_text())

    def close(self) -> None:
        self._connection.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._connection.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._write_lock:
            cursor = self.cursor()
            cursor.execute("begin transaction")
            try:
                yield cursor
                cursor.execute("commit")
            except BaseException:
                cursor.execute("rollback")
                raise
            finally:
                cursor.close()

    def upsert(self, dataset: str, frame: pd.DataFrame, *, load_id: str, loaded_at: datetime) -> int:
        """Merge ``frame`` into the dataset's raw table by natural key, in one transaction.

        Rows identical to what is stored are left alone (they keep their
        load_id), changed rows are replaced, new rows are inserted. Returns the
        number of rows inserted or replaced.
        """
        spec = TABLES[dataset]
        batch = frame.copy()
        batch["load_id"] = load_id
        batch["loaded_at"] = loaded_at
        with self.transaction() as cursor:
            columns = [row[0] for row in cursor.execute(f"describe {spec.table}").fetchall()]
            arrow_batch = pa.Table.from_pandas(batch[columns], preserve_index=False)
            cursor.register("incoming_batch", arrow_batch)
            value_columns = [c for c in columns if c not in spec.keys and c not in LOAD_COLUMNS]
            join = " and ".join(f"stored.{key} = incoming.{key}" for key in spec.keys)
            differs = " or ".join(f"stored.{c} is distinct from incoming.{c}" for c in value_columns) or "false"
            casts = ", ".join(f"cast(incoming.{c} as {t}) as {c}" for c, t in self._column_types(cursor, spec.table))
            cursor.execute(
                f"""
                create or replace temp table changed_rows as
                select {casts}
                from incoming_batch as incoming
                """
            )
            # the date is part of the key: only stored rows dated within the batch can match, so look there
            within, parameters = "", []
            if spec.date_column in spec.keys:
                parameters = list(
                    cursor.execute(
                        f"select min({spec.date_column}), max({spec.date_column}) from changed_rows"
                    ).fetchone()
                )
                within = f"and stored.{spec.date_column} between ? and ?"
            cursor.execute(
                f"""
                delete from changed_rows as incoming
                where exists (
                    select 1 from {spec.table} as stored
                    where {join} {within} and not ({differs})
                )
                """,
                parameters,
            )
            cursor.execute(f"delete from {spec.table} as stored using changed_rows as incoming where {join}")
            self._fault_point(f"load:{dataset}")
            cursor.execute(f"insert into {spec.table} by name select * from changed_rows")
            changed = cursor.execute("select count(*) from changed_rows").fetchone()[0]
            cursor.execute("drop table changed_rows")
            cursor.unregister("incoming_batch")
        return int(changed)

    def holds_identical_rows(self, dataset: str, frame: pd.DataFrame) -> bool:
        """True when every row of ``frame`` is already stored, value for value (a re-extracted window with
        nothing new). Any doubt - other columns, values that do not cast, an empty frame - is False."""
        spec = TABLES[dataset]
        if frame.empty:
            return False
        cursor = self.cursor()
        try:
            types = [(c, t) for c, t in self._column_types(cursor, spec.table) if c not in LOAD_COLUMNS]
            if sorted(map(str, frame.columns)) != sorted(c for c, _ in types):
                return False
            cursor.register("incoming_batch", pa.Table.from_pandas(frame[[c for c, _ in types]], preserve_index=False))
            casts = ", ".join(f"cast(incoming.{c} as {t}) as {c}" for c, t in types)
            columns = ", ".join(c for c, _ in types)
            # only the stored rows dated within the batch can match it: compare against those, not the history
            stored, parameters = spec.table, []
            if spec.date_column in frame.columns:
                dated = dict(types)[spec.date_column]
                (first, last) = cursor.execute(
                    f"select min(cast({spec.date_column} as {dated})), max(cast({spec.date_column} as {dated})) "
                    "from incoming_batch"
                ).fetchone()
                if first is None:
                    return False
                stored = f"(select {columns} from {spec.table} where {spec.date_column} between ? and ?)"
                parameters = [first, last]
            new_or_changed = cursor.execute(
                f"select count(*) from (select {casts} from incoming_batch as incoming "
                f"except select {columns} from {stored})",
                parameters,
            ).fetchone()[0]
            return int(new_or_changed) == 0
        except (duckdb.Error, pa.ArrowException, ValueError, TypeError, OverflowError):
            return False
        finally:
            cursor.close()

    def replace_all(self, dataset: str, frame: pd.DataFrame, *, load_id: str, loaded_at: datetime) -> int:
        """Replace the whole table (used for the small configuration tables)."""
        spec = TABLES[dataset]
        batch = frame.copy()
        batch["load_id"] = load_id
        batch["loaded_at"] = loaded_at
        with self.transaction() as cursor:
            cursor.register("incoming_batch", pa.Table.from_pandas(batch, preserve_index=False))
            cursor.execute(f"delete from {spec.table}")
            cursor.execute(f"insert into {spec.table} by name select * from incoming_batch")
            cursor.unregister("incoming_batch")
        return len(batch)

    def _fault_point(self, name: str) -> None:
        """Crash tests park the run here (GAPWATCH_FAULT_PAUSE) and kill it with SIGKILL."""
        if self.settings.fault_pause == name:
            (self.settings.paths.home / "fault-paused").write_text(name)
            time.sleep(3600)

    @staticmethod
    def _column_types(cursor: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in cursor.execute(f"describe {table}").fetchall()]

    def cursors(self, dataset: str, key: str, *, source: str | tuple[str, ...]) -> dict[str, date]:
        """High-water mark per key (e.g. per ticker) of the dataset's date column for the given source(s)."""
        spec = TABLES[dataset]
        sources = [source] if isinstance(source, str) else list(source)
        cursor = self.cursor()
        try:
            rows = cursor.execute(
                f"select {key}, max({spec.date_column}) from {spec.table} "
                f"where list_contains(?, source) group by {key}",
                [sources],
            ).fetchall()
        finally:
            cursor.close()
        return {str(k): v for k, v in rows if v is not None}

    def append(self, table: str, frame: pd.DataFrame) -> None:
        """Append a DataFrame to an audit table in one transaction (by column name, through Arrow)."""
        with self.transaction() as cursor:
            cursor.register("appended_rows", pa.Table.from_pandas(frame, preserve_index=False))
            cursor.execute(f"insert into {table} by name select * from appended_rows")
            cursor.unregister("appended_rows")

    def record_load(self, **fields: object) -> None:
        self.append("audit.loads", pd.DataFrame([fields]))

    def last_closes_before(self, batch: pd.DataFrame) -> dict[str, float]:
        """Per ticker, the last stored close before the batch's first date for that ticker.

        Tickers are compared as text: a malformed batch may mix types in the column (validation rejects it).
        """
        firsts = (
            batch.assign(
                ticker=batch["ticker"].map(lambda value: None if pd.isna(value) else str(value)),
                trade_date=pd.to_datetime(batch["trade_date"], errors="coerce"),
            )
            .groupby("ticker", as_index=False)["trade_date"]
            .min()
        )
        query = """
            select prices.ticker, arg_max(prices.close, prices.trade_date)
            from raw.prices as prices
            join batch_firsts on prices.ticker = batch_firsts.ticker
                and prices.trade_date < cast(batch_firsts.trade_date as date)
            where prices.trade_date >= ?
            group by prices.ticker
        """
        earliest = firsts["trade_date"].min()
        cursor = self.cursor()
        try:
            cursor.register("batch_firsts", pa.Table.from_pandas(firsts, preserve_index=False))
            # the last close is almost always within a few weeks: look there first, then further back only
            # for the tickers not found (a new listing, a long suspension)
            recent = None if pd.isna(earliest) else (earliest - pd.Timedelta(days=45)).date()
            closes = dict(cursor.execute(query, [recent]).fetchall()) if recent is not None else {}
            missing = firsts[~firsts["ticker"].isin(list(closes))]
            if len(missing):
                cursor.unregister("batch_firsts")
                cursor.register("batch_firsts", pa.Table.from_pandas(missing, preserve_index=False))
                closes.update(cursor.execute(query, [date.min]).fetchall())
        finally:
            cursor.close()
        return {str(ticker): float(close) for ticker, close in closes.items()}

    def quarantine(
        self, dataset: str, frame: pd.DataFrame, failing: dict[int, list[str]], *, load_id: str, status: str
    ) -> int:
        """Keep the failing rows of a batch in audit.quarantine with their rules and raw values."""
        if not failing:
            return 0
        positions = sorted(failing)
        rows = frame.reset_index(drop=True).iloc[positions]
        records = [json.dumps(record, default=str) for record in rows.to_dict(orient="records")]
        quarantined = pd.DataFrame(
            {
                "load_id": load_id,
                "dataset": dataset,
                "row_number": positions,
                "rules": [failing[p] for p in positions],
                "record_json": records,
                "status": status,
                "quarantined_at": utcnow(),
            }
        )
        self.append("audit.quarantine", quarantined)
        return len(quarantined)

    def record_validation(self, report: ValidationReport, *, load_id: str) -> None:
        """One row per evaluated rule in audit.validations."""
        if not report.outcomes:
            return
        rules, severities, successes, counts = zip(*report.outcomes, strict=True)
        frame = pd.DataFrame(
            {
                "load_id": load_id,
                "dataset": report.dataset,
                "rule": list(rules),
                "severity": list(severities),
                "success": list(successes),
                "unexpected_count": pd.array([c for c in counts], dtype="Int64"),
                "validated_at": utcnow(),
            }
        )
        self.append("audit.validations", frame)

    def record_key_failure(self, **fields: object) -> None:
        self.append("audit.key_failures", pd.DataFrame([fields]))

    def record_run(self, *, run_id: str, status: str, **fields: object) -> None:
        with self.transaction() as cursor:
            exists = cursor.execute("select count(*) from audit.runs where run_id = ?", [run_id]).fetchone()[0]
            if exists:
                assignments = ", ".join(f"{name} = ?" for name in ["status", *fields])
                cursor.execute(
                    f"update audit.runs set {assignments} where run_id = ?", [status, *fields.values(), run_id]
                )
            else:
                frame = pd.DataFrame([{"run_id": run_id, "status": status, **fields}])
                cursor.register("run_record", pa.Table.from_pandas(frame, preserve_index=False))
                cursor.execute("insert into audit.runs by name select * from run_record")
                cursor.unregister("run_record")

    def mart_row_counts(self) -> dict[str, int]:
        cursor = self.cursor()
        try:
            tables = cursor.execute(
                "select table_name from information_schema.tables where table_schema = ? order by table_name",
                [MART_SCHEMA],
            ).fetchall()
            return {
                name: cursor.execute(f'select count(*) from {MART_SCHEMA}."{name}"').fetchone()[0] for (name,) in tables
            }
        finally:
            cursor.close()


def publish(warehouse: Warehouse) -> Path:
    """Copy the marts into a separate database for BI readers, swapped in atomically.

    The copy is built beside the published file and renamed over it, so a
    reader opening the published path sees either the old or the new file,
    never a half-written one, and never holds a lock the pipeline needs.

    When a published file exists, the copy starts from it (a file copy): the
    incremental marts (INCREMENTAL_KEYS) receive only the rows dbt rebuilt
    since (``inputs_loaded_through`` newer than the copy's newest), checked
    against the warehouse afterwards; every other mart is recreated.
    """
    published = warehouse.settings.paths.published_database
    published.parent.mkdir(parents=True, exist_ok=True)
    staging = published.with_name(f".{published.name}.{os.getpid()}.tmp")
    _remove_database_file(staging)
    with warehouse.transaction() as cursor:
        tables = [
            name
            for (name,) in cursor.execute(
                "select table_name from information_schema.tables where table_catalog = current_database() "
                "and table_schema = ? and table_type = 'BASE TABLE' order by table_name",
                [MART_SCHEMA],
            ).fetchall()
        ]
    try:
        if published.exists():
            shutil.copyfile(published, staging)
        cursor = warehouse.cursor()
        try:
            cursor.execute(f"attach '{staging}' as {PUBLISH_TARGET}")
            try:
                _publish_tables(cursor, tables)
                cursor.execute(f"checkpoint {PUBLISH_TARGET}")  # every change in the file itself, none in a WAL
                warehouse._fault_point("publish:duckdb")
            finally:
                cursor.execute(f"detach {PUBLISH_TARGET}")
        finally:
            cursor.close()
        os.replace(staging, published)
    except BaseException:
        _remove_database_file(staging)
        raise
    publish_parquet(warehouse, tables)
    return published


# Incremental marts (dbt delete+insert by this unique key; every row stamped with WATERMARK): publishing
# copies only their rows stamped after the published copy's newest stamp. Other marts, and these while
# they have no WATERMARK column, are copied whole. tests/test_publish_incremental.py checks the keys
# against the dbt models' unique_key.
INCREMENTAL_KEYS = {
    "execution_gap": ("ticker", "fiscal_period_end"),
    "relative_performance": ("series_id", "trade_date"),
    "policy_event_impact": ("event_id", "ticker"),
}
WATERMARK = "inputs_loaded_through"
PUBLISH_TARGET = "publish_target"


def _remove_database_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(f"{path.name}.wal").unlink(missing_ok=True)


def _publish_tables(cursor: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """Bring the attached staging copy's marts to the warehouse's: refresh incrementally where possible,
    recreate the rest, drop the marts the warehouse no longer has."""
    cursor.execute(f"create schema if not exists {PUBLISH_TARGET}.{MART_SCHEMA}")
    staged = {
        name
        for (name,) in cursor.execute(
            "select table_name from information_schema.tables where table_catalog = ? and table_schema = ?",
            [PUBLISH_TARGET, MART_SCHEMA],
        ).fetchall()
    }
    for name in sorted(staged - set(tables)):
        cursor.execute(f'drop table {PUBLISH_TARGET}.{MART_SCHEMA}."{name}"')
    for name in tables:
        if name in staged and _refresh_rows(cursor, name):
            continue
        target = f'{PUBLISH_TARGET}.{MART_SCHEMA}."{name}"'
        if name in staged:
            cursor.execute(f"drop table {target}")
            cursor.execute(f"checkpoint {PUBLISH_TARGET}")  # its blocks are free for the new copy to reuse
        cursor.execute(f'create table {target} as select * from {MART_SCHEMA}."{name}"')


def _refresh_rows(cursor: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Replace, by key, the staged rows of an incremental mart that dbt rebuilt since they were published.

    False (recreate the table instead) when the mart is not incremental, its columns changed, more than
    half of it was rebuilt, or the result does not hold the warehouse's rows build for build.
    """
    keys = INCREMENTAL_KEYS.get(name)
    source, target = f'{MART_SCHEMA}."{name}"', f'{PUBLISH_TARGET}.{MART_SCHEMA}."{name}"'
    columns = Warehouse._column_types(cursor, source)
    if keys is None or WATERMARK not in dict(columns) or Warehouse._column_types(cursor, target) != columns:
        return False
    (published_through,) = cursor.execute(f"select max({WATERMARK}) from {target}").fetchone()
    if published_through is None:
        return False
    rebuilt, total = cursor.execute(
        f"select count(*) filter (where {WATERMARK} > ?), count(*) from {source}", [published_through]
    ).fetchone()
    if rebuilt * 2 > total:
        return False
    if rebuilt:
        cursor.execute(
            f"create or replace temp table publish_rebuilt as select * from {source} where {WATERMARK} > ?",
            [published_through],
        )
        matches = " and ".join(f'staged."{key}" = rebuilt."{key}"' for key in keys)
        cursor.execute(f"delete from {target} as staged using publish_rebuilt as rebuilt where {matches}")
        cursor.execute(f"insert into {target} select * from publish_rebuilt")
        cursor.execute("drop table publish_rebuilt")
    if _rows_per_build(cursor, target) != _rows_per_build(cursor, source):
        logger.warning("The published copy of %s differs from the warehouse after a refresh; copying it whole.", name)
        return False
    return True


def _rows_per_build(cursor: duckdb.DuckDBPyConnection, relation: str) -> list[tuple]:
    """Row count per WATERMARK value: a cheap check that a copy holds the same builds' rows as its source."""
    return cursor.execute(f"select {WATERMARK}, count(*) from {relation} group by all order by all").fetchall()


# Marts written as Parquet, partitioned by year of this date column (others: one file).
PARQUET_PARTITIONS = {"relative_performance": "trade_date", "execution_gap": "fiscal_period_end"}
PARQUET_VERSIONS_KEPT = 2


def publish_parquet(warehouse: Warehouse, tables: list[str]) -> Path:
    """Write the marts as Parquet under published/parquet/<version>/ plus a views database over them.

    ``published/marts_parquet.duckdb`` holds one view per mart reading the newest
    version; it is built beside and renamed over, and the previous version's
    files are kept, so a reader holding the old views still reads complete files.

    A partitioned mart with ``inputs_loaded_through`` is written incrementally
    against the version the views read: the years holding rows rebuilt since
    (or new years) are rewritten, the other years' files are hard links to the
    previous version's; a mismatch with the warehouse afterwards rewrites it whole.
    """
    root = warehouse.settings.paths.published_dir / "parquet"
    views = warehouse.settings.paths.published_dir / "marts_parquet.duckdb"
    previous = _published_parquet_folders(views, root)
    version = root / utcnow().strftime("%Y%m%dT%H%M%S%f")
    version.mkdir(parents=True)
    cursor = warehouse.cursor()
    try:
        for name in tables:
            column = PARQUET_PARTITIONS.get(name)
            if column:
                base = previous.get(name)
                if base is None or not _write_changed_years(cursor, name, column, version / name, base):
                    shutil.rmtree(version / name, ignore_errors=True)
                    _write_years(cursor, name, column, version / name)
            else:
                (version / name).mkdir()
                cursor.execute(f"copy {MART_SCHEMA}.\"{name}\" to '{version / name / 'data.parquet'}' (format parquet)")
    finally:
        cursor.close()
    warehouse._fault_point("publish:parquet")
    staging = views.with_name(f".{views.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    connection = duckdb.connect(str(staging))
    try:
        connection.execute(f"create schema {MART_SCHEMA}")
        for name in tables:
            files = f"{version / name}/**/*.parquet"
            connection.execute(
                f'create view {MART_SCHEMA}."{name}" as '
                f"select * from read_parquet('{files}', hive_partitioning = true)"
            )
    finally:
        connection.close()
    os.replace(staging, views)
    # the newest versions and the one the views read until now (newer ones may be unfinished, after a crash)
    versions = sorted(path for path in root.iterdir() if path.is_dir())
    kept = {*versions[-PARQUET_VERSIONS_KEPT:], *(folder.parent for folder in previous.values())}
    for old in versions:
        if old not in kept:
            shutil.rmtree(old, ignore_errors=True)
    return version


def _published_parquet_folders(views: Path, root: Path) -> dict[str, Path]:
    """Per mart, the folder (under ``root``) of the Parquet version the views database reads."""
    if not views.exists():
        return {}
    try:
        connection = duckdb.connect(str(views), read_only=True)
        try:
            definitions = connection.execute(
                "select view_name, sql from duckdb_views() where schema_name = ?", [MART_SCHEMA]
            ).fetchall()
        finally:
            connection.close()
    except duckdb.Error:
        return {}
    folders: dict[str, Path] = {}
    for name, sql in definitions:
        match = re.search(r"read_parquet\('([^']+)/\*\*/\*\.parquet'", sql)
        if match and Path(match[1]).name == name:
            folder = root / Path(match[1]).parent.name / name  # this home's copy, even if the home was moved
            if folder.is_dir():
                folders[name] = folder
    return folders


def _write_years(
    cursor: duckdb.DuckDBPyConnection, name: str, column: str, folder: Path, years: list[int] | None = None
) -> None:
    """COPY a mart partitioned by year of ``column`` into ``folder``/year=YYYY/ (all years, or ``years``)."""
    where = "" if years is None else f'where year("{column}") in ({", ".join(map(str, years))})'
    cursor.execute(
        f'copy (select *, year("{column}") as year from {MART_SCHEMA}."{name}" {where}) '
        f"to '{folder}' (format parquet, partition_by (year))"
    )


def _write_changed_years(cursor: duckdb.DuckDBPyConnection, name: str, column: str, folder: Path, base: Path) -> bool:
    """Write the years of a mart rebuilt since ``base`` (the previous version's folder), hard-link the others.

    False (write it whole instead) when the mart has no WATERMARK, its columns changed, the previous
    folder holds anything but year=YYYY partitions, or the result does not match the warehouse.
    """
    source = f'{MART_SCHEMA}."{name}"'
    base_files = f"read_parquet('{base}/**/*.parquet', hive_partitioning = true)"
    columns = Warehouse._column_types(cursor, f'select *, year("{column}") as year from {source}')
    if WATERMARK not in dict(columns) or Warehouse._column_types(cursor, f"select * from {base_files}") != columns:
        return False
    partitions = {path.name.removeprefix("year="): path for path in base.iterdir()}
    if not all(re.fullmatch(r"\d+", year) and path.is_dir() for year, path in partitions.items()):
        return False
    (published_through,) = cursor.execute(f"select max({WATERMARK}) from {base_files}").fetchone()
    years = {year for (year,) in cursor.execute(f'select distinct year("{column}") from {source}').fetchall()}
    if published_through is None or None in years:
        return False
    rebuilt = cursor.execute(
        f'select distinct year("{column}") from {source} where {WATERMARK} > ?', [published_through]
    ).fetchall()
    written = {year for (year,) in rebuilt} | {year for year in years if str(year) not in partitions}
    folder.mkdir()
    if written:
        _write_years(cursor, name, column, folder, sorted(written))
    for year in sorted(years - written):
        for file in partitions[str(year)].rglob("*"):
            if file.is_file():
                _link_or_copy(file, folder / file.relative_to(base))
    if _rows_per_build(cursor, f"read_parquet('{folder}/**/*.parquet')") != _rows_per_build(cursor, source):
        logger.warning("The Parquet version of %s differs from the warehouse; writing it whole.", name)
        return False
    return True


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
