"""Shared fixtures: one Prefect test server and one fully built warehouse per session.

Every test that needs marts reads the session warehouse built by the real
``daily`` flow (real GX validation, real dbt build). Tests that are *about*
running the pipeline (idempotency, increments, failures) build their own in a
temporary GAPWATCH_HOME.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

# Telemetry off before Prefect, GX or dbt are imported.
os.environ.update(
    {
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
)

AS_OF = date(2026, 11, 20)  # a Friday; NYSE and HKEX both open
# The columns that say which load or run wrote a row: two builds of the same data differ only in them.
LINEAGE = frozenset({"load_id", "loaded_at", "inputs_loaded_through"})


def is_lineage(column: str) -> bool:
    """A lineage column: LINEAGE, or the loads of one input of a row (``market_load_id``, ``security_load_ids``)."""
    return column in LINEAGE or column.endswith(("_load_id", "_load_ids"))


def table_rows(database: Path, table: str) -> list[tuple]:
    """Every row of ``table`` without its lineage columns, sorted: equal for two builds of the same data."""
    connection = duckdb.connect(str(database), read_only=True)
    try:
        columns = [row[0] for row in connection.execute(f"describe {table}").fetchall() if not is_lineage(row[0])]
        select = ", ".join(f'"{column}"' for column in columns)
        return sorted(connection.execute(f"select {select} from {table}").fetchall(), key=repr)
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def _logging_levels() -> Iterator[None]:
    """`gapwatch run --quiet` in this process turns Prefect's console logging (and the root logger's warnings)
    off for good, as a CLI process would, and any `gapwatch run` filters raw records off the console handlers;
    undo both after each test, so later tests still see warnings."""
    names = ["", *(name for name in logging.root.manager.loggerDict if name.startswith("prefect"))]
    levels = {name: logging.getLogger(name).level for name in names}
    filters = {handler: list(handler.filters) for name in names for handler in logging.getLogger(name).handlers}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    for handler, kept in filters.items():
        handler.filters[:] = kept


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test server for the session, started only for tests that run flows
    (the ``warehouse`` fixture, or ``pytestmark = pytest.mark.usefixtures("prefect_server")``)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


class Home:
    """A GAPWATCH_HOME for the duration of a block: sets the environment the settings module reads."""

    def __init__(self, path: Path, **extra: str) -> None:
        self.path = path
        self.extra = extra
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> Home:
        values = {"GAPWATCH_HOME": str(self.path), **self.extra}
        for name, value in values.items():
            self._saved[name] = os.environ.get(name)
            os.environ[name] = value
        return self

    def __exit__(self, *exc: object) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def run(self, as_of: date = AS_OF, start: date | None = None):  # type: ignore[no-untyped-def]
        from flows.daily import run_daily

        return run_daily(as_of=as_of, start=start)

    def query(self, sql: str, *, published: bool = False) -> list[tuple]:
        path = self.path / ("published/gapwatch.duckdb" if published else "gapwatch.duckdb")
        connection = duckdb.connect(str(path), read_only=True)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory, prefect_server: None):  # type: ignore[no-untyped-def]
    """The session warehouse: the real daily flow, run once as of AS_OF on the embedded default."""
    home = Home(tmp_path_factory.mktemp("warehouse"))
    with home:
        summary = home.run()
    assert summary.success, "\n".join(summary.errors)
    home.summary = summary  # type: ignore[attr-defined]
    return home


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has ended: only its parent has not reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
