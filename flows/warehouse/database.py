"""The DuckDB warehouse file: the connection, transactions and set-based upserts into raw tables.

This module knows DuckDB and nothing about HTTP or sources. Batches arrive as
pandas DataFrames and are loaded through Arrow in one statement each -- never
row by row. The audit records live in :mod:`flows.warehouse.audit`, the
published copy in :mod:`flows.warehouse.publish`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from flows import calendars
from flows.datasets.base import LOAD_COLUMNS, Table
from flows.settings import Settings
from flows.warehouse import schema
from flows.warehouse.sql import quote_identifier, quote_literal

MART_SCHEMA = "marts"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def column_types(cursor: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    """(name, type) of every column of a table, a view or a ``select`` statement."""
    return [(row[0], row[1]) for row in cursor.execute(f"describe {relation}").fetchall()]


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
        schema.ensure(self._connection)

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

    def upsert(self, table: Table, frame: pd.DataFrame, *, load_id: str, loaded_at: datetime) -> int:
        """Merge ``frame`` into ``table`` by natural key, in one transaction.

        Rows identical to what is stored are left alone (they keep their
        load_id), changed rows are replaced, new rows are inserted. Returns the
        number of rows inserted or replaced.
        """
        with self.transaction() as cursor:
            data_columns = [name for name, _ in column_types(cursor, table.name) if name not in LOAD_COLUMNS]
            cursor.register("incoming_batch", pa.Table.from_pandas(frame[data_columns], preserve_index=False))
            try:
                return self._merge(cursor, table, "incoming_batch", load_id=load_id, loaded_at=loaded_at)
            finally:
                cursor.unregister("incoming_batch")

    def upsert_files(self, table: Table, files: list[Path], *, load_id: str, loaded_at: datetime) -> int:
        """Merge the rows of the Parquet ``files`` (the validated parts of one chunked load) into ``table``, in
        one transaction, as :meth:`upsert` does: DuckDB reads them as it goes, nothing is held in pandas."""
        if not files:
            return 0
        listed = ", ".join(quote_literal(path) for path in files)
        with self.transaction() as cursor:
            return self._merge(
                cursor, table, f"read_parquet([{listed}], union_by_name = true)", load_id=load_id, loaded_at=loaded_at
            )

    def _merge(
        self, cursor: duckdb.DuckDBPyConnection, table: Table, source: str, *, load_id: str, loaded_at: datetime
    ) -> int:
        """The merge of :meth:`upsert` from ``source`` (a registered batch or a ``read_parquet``), inside the
        caller's transaction."""
        types = column_types(cursor, table.name)
        columns = [name for name, _ in types]
        value_columns = [c for c in columns if c not in table.keys and c not in LOAD_COLUMNS]
        join = " and ".join(f"stored.{key} = incoming.{key}" for key in table.keys)
        differs = " or ".join(f"stored.{c} is distinct from incoming.{c}" for c in value_columns) or "false"
        casts = ", ".join(
            f"cast(? as {t}) as {c}" if c in LOAD_COLUMNS else f"cast(incoming.{c} as {t}) as {c}" for c, t in types
        )
        load_values = [{"load_id": load_id, "loaded_at": loaded_at}[c] for c in columns if c in LOAD_COLUMNS]
        # the date is part of the key: only stored rows dated within the batch can match, so look there
        within, parameters = "", []
        if table.date_column in table.keys:
            dated = f"cast(incoming.{table.date_column} as {dict(types)[table.date_column]})"
            parameters = list(cursor.execute(f"select min({dated}), max({dated}) from {source} as incoming").fetchone())
            within = f"and stored.{table.date_column} between ? and ?"
            stored = f"select count(*) from {table.name} as stored where true {within}"
            if cursor.execute(stored, parameters).fetchone()[0] == 0:
                # nothing stored where the batch is dated (a first load, a new stretch of history): every row is
                # new, and DuckDB streams them in without holding the batch in a temporary table
                self.fault_point(f"load:{table.name.removeprefix('raw.')}")
                inserted = cursor.execute(
                    f"insert into {table.name} by name select {casts} from {source} as incoming", load_values
                ).fetchone()[0]
                return int(inserted)
        cursor.execute(
            f"create or replace temp table changed_rows as select {casts} from {source} as incoming", load_values
        )
        cursor.execute(
            f"""
            delete from changed_rows as incoming
            where exists (
                select 1 from {table.name} as stored
                where {join} {within} and not ({differs})
            )
            """,
            parameters,
        )
        cursor.execute(f"delete from {table.name} as stored using changed_rows as incoming where {join}")
        self.fault_point(f"load:{table.name.removeprefix('raw.')}")
        cursor.execute(f"insert into {table.name} by name select * from changed_rows")
        changed = cursor.execute("select count(*) from changed_rows").fetchone()[0]
        cursor.execute("drop table changed_rows")
        return int(changed)

    def holds_identical_rows(self, table: Table, frame: pd.DataFrame) -> bool:
        """True when every row of ``frame`` is already stored, value for value (a re-extracted window with
        nothing new). Any doubt - other columns, values that do not cast, an empty frame - is False."""
        if frame.empty:
            return False
        cursor = self.cursor()
        try:
            types = [(c, t) for c, t in column_types(cursor, table.name) if c not in LOAD_COLUMNS]
            if sorted(map(str, frame.columns)) != sorted(c for c, _ in types):
                return False
            cursor.register("incoming_batch", pa.Table.from_pandas(frame[[c for c, _ in types]], preserve_index=False))
            casts = ", ".join(f"cast(incoming.{c} as {t}) as {c}" for c, t in types)
            columns = ", ".join(c for c, _ in types)
            # only the stored rows dated within the batch can match it: compare against those, not the history
            stored, parameters = table.name, []
            if table.date_column in frame.columns:
                dated = dict(types)[table.date_column]
                (first, last) = cursor.execute(
                    f"select min(cast({table.date_column} as {dated})), max(cast({table.date_column} as {dated})) "
                    "from incoming_batch"
                ).fetchone()
                if first is None:
                    return False
                stored = f"(select {columns} from {table.name} where {table.date_column} between ? and ?)"
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
            cursor.unregister("incoming_batch")
            cursor.close()

    def replace_all(self, table: Table, frame: pd.DataFrame, *, load_id: str, loaded_at: datetime) -> int:
        """Replace the whole table (used for the small configuration tables)."""
        batch = frame.copy()
        batch["load_id"] = load_id
        batch["loaded_at"] = loaded_at
        with self.transaction() as cursor:
            cursor.register("incoming_batch", pa.Table.from_pandas(batch, preserve_index=False))
            cursor.execute(f"delete from {table.name}")
            cursor.execute(f"insert into {table.name} by name select * from incoming_batch")
            cursor.unregister("incoming_batch")
        return len(batch)

    def load_universe(self, *, load_id: str) -> int:
        """Reload the configured universe into raw.securities, and its exchanges' sessions into
        raw.market_sessions (rewritten only when they changed: another universe or exchange_calendars release)."""
        loaded_at = utcnow()
        exchanges = sorted({security.exchange for security in self.settings.universe.securities})
        sessions = pd.concat([calendars.session_times(exchange) for exchange in exchanges], ignore_index=True)
        sessions["source"] = "exchange_calendars"
        (stored,) = self.cursor().execute(f"select count(*) from {schema.MARKET_SESSIONS.name}").fetchone()
        if stored != len(sessions) or not self.holds_identical_rows(schema.MARKET_SESSIONS, sessions):
            self.replace_all(schema.MARKET_SESSIONS, sessions, load_id=load_id, loaded_at=loaded_at)
        rows = pd.DataFrame(schema.securities_rows(self.settings.universe))
        return self.replace_all(schema.SECURITIES, rows, load_id=load_id, loaded_at=loaded_at)

    def fault_point(self, name: str) -> None:
        """Crash tests park the run here (GAPWATCH_FAULT_PAUSE) and kill it with SIGKILL."""
        if self.settings.fault_pause == name:
            (self.settings.paths.home / "fault-paused").write_text(name)
            time.sleep(3600)

    def cursors(self, table: Table, key: str, *, sources: tuple[str, ...]) -> dict[str, date]:
        """High-water mark per key (e.g. per ticker) of the table's date column for the given source values."""
        cursor = self.cursor()
        try:
            rows = cursor.execute(
                f"select {key}, max({table.date_column}) from {table.name} "
                f"where list_contains(?, source) group by {key}",
                [list(sources)],
            ).fetchall()
        finally:
            cursor.close()
        return {str(k): v for k, v in rows if v is not None}

    def latest(self, table: Table, column: str) -> date | datetime | None:
        """The greatest value of ``column`` in ``table`` (None when the table holds no row with one)."""
        cursor = self.cursor()
        try:
            row = cursor.execute(f"select max({quote_identifier(column)}) from {table.name}").fetchone()
        finally:
            cursor.close()
        return row[0] if row else None

    def append(self, table: str, frame: pd.DataFrame) -> None:
        """Append a DataFrame to an audit table in one transaction (by column name, through Arrow)."""
        with self.transaction() as cursor:
            cursor.register("appended_rows", pa.Table.from_pandas(frame, preserve_index=False))
            cursor.execute(f"insert into {table} by name select * from appended_rows")
            cursor.unregister("appended_rows")

    def mart_row_counts(self) -> dict[str, int]:
        cursor = self.cursor()
        try:
            tables = cursor.execute(
                "select table_name from information_schema.tables where table_schema = ? order by table_name",
                [MART_SCHEMA],
            ).fetchall()
            return {
                name: cursor.execute(f"select count(*) from {MART_SCHEMA}.{quote_identifier(name)}").fetchone()[0]
                for (name,) in tables
            }
        finally:
            cursor.close()
