"""The BI connection path, tested as Superset takes it: duckdb-engine under SQLAlchemy 1.4 (Superset pins
SQLAlchemy < 2), in its own environment (.venv-bi, `make bi-env`, part of `make test`), reading the session
warehouse's published file read-only: every mart, every column with its type and its description."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import Home

REPO = Path(__file__).resolve().parents[1]
BI_PYTHON = REPO / ".venv-bi" / "bin" / "python"


def test_superset_s_sqlalchemy_1_4_reads_every_mart_column_and_description(warehouse: Home) -> None:
    if not BI_PYTHON.exists():
        pytest.fail(f"{BI_PYTHON} is missing: run `make bi-env` (`make test` does).")
    published = warehouse.path / "published" / "gapwatch.duckdb"
    completed = subprocess.run(
        [str(BI_PYTHON), str(REPO / "tests" / "bi" / "probe.py"), str(published)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["sqlalchemy"].startswith("1.4.")
    connection = duckdb.connect(str(published), read_only=True)
    try:
        expected = connection.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts' "
            "order by table_name, column_index"
        ).fetchall()
        tables = dict(
            connection.execute("select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall()
        )
        rows = {name: connection.execute(f'select count(*) from marts."{name}"').fetchone()[0] for name in tables}
    finally:
        connection.close()
    assert set(seen["marts"]) == set(tables) and len(tables) >= 6
    for table, column, comment in expected:
        shown = seen["marts"][table]["columns"][column]
        assert comment and shown["comment"] == comment, (table, column)
        assert shown["type"] != "NullType", (table, column)  # a type SQLAlchemy knows, so charts can aggregate
    for table, comment in tables.items():
        assert comment and seen["marts"][table]["comment"] == comment
    assert seen["rows"] == rows
