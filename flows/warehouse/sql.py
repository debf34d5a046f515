"""Quoting values that must be written into SQL text (DDL, ATTACH paths, COPY targets) -- the one place.

Values go to DuckDB as bound parameters wherever a statement takes them; these
helpers are for the few places it does not (object names, file paths in
``attach``/``copy``, comments in DDL).
"""

from __future__ import annotations


def quote_literal(value: object) -> str:
    """A SQL string literal: ``O'Brien`` -> ``'O''Brien'``."""
    return "'" + str(value).replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """A quoted SQL identifier: a double quote inside the name is doubled."""
    return '"' + name.replace('"', '""') + '"'
