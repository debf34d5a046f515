"""Run inside .venv-bi (SQLAlchemy 1.4 + duckdb-engine): what a BI tool sees of a published gapwatch file.

    .venv-bi/bin/python tests/bi/probe.py warehouse/published/gapwatch.duckdb

Prints one JSON document: the SQLAlchemy version, the schemas, per mart the columns with their types and
comments and the table comment (SQLAlchemy's inspector: what Superset's dataset editor reads), and a query.
"""

import json
import sys

import sqlalchemy
from sqlalchemy import create_engine, inspect, text


def main(path: str) -> None:
    engine = create_engine(f"duckdb:///{path}", connect_args={"read_only": True})
    inspector = inspect(engine)
    report = {"sqlalchemy": sqlalchemy.__version__, "schemas": inspector.get_schema_names(), "marts": {}}
    for table in inspector.get_table_names(schema="marts"):
        report["marts"][table] = {
            "comment": inspector.get_table_comment(table, schema="marts").get("text"),
            "columns": {
                column["name"]: {"type": str(column["type"]), "comment": column.get("comment")}
                for column in inspector.get_columns(table, schema="marts")
            },
        }
    with engine.connect() as connection:
        report["rows"] = {
            table: connection.execute(text(f'select count(*) from marts."{table}"')).scalar()
            for table in report["marts"]
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
