"""Quoting values that must be written into SQL text (DDL, ATTACH paths, COPY targets) -- the one place.

The rule (docs/pages/architecture.md, "Nothing is spliced into SQL"): a value
reaches DuckDB as a bound parameter (``?``) wherever a statement takes one;
where it cannot (object names, file paths in ``attach``/``copy``/``read_parquet``,
comments in DDL) it is written through these two helpers, and through nothing
else. Only names written in the code itself (tables, columns, schemas) appear
in SQL text as they are. The dbt project's twin is ``sql_literal`` in
dbt_project/macros/sql_literal.sql.
"""

from __future__ import annotations


def quote_literal(value: object) -> str:
    """A SQL string literal: ``O'Brien`` -> ``'O''Brien'``.

    DuckDB string literals know no backslash escapes, so doubling ``'`` is all there is to it; a NUL
    character cannot be held by a literal and is refused.
    """
    text = str(value)
    if "\0" in text:
        raise ValueError(f"A NUL character cannot be written into SQL: {text!r}.")
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """A quoted SQL identifier: a double quote inside the name is doubled (an empty name or a NUL is refused)."""
    if not name or "\0" in name:
        raise ValueError(f"Not a usable SQL identifier: {name!r}.")
    return '"' + name.replace('"', '""') + '"'
