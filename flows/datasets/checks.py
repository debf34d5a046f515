"""Building blocks of the derived checks: boolean columns a GX suite asserts (``gx_*``).

GX cannot look up a trading calendar or compare a date with ``--as-of``; the
dataset modules compute such facts here, row by row, and their suites assert
them. Every check tolerates malformed input (text in a date column, mixed types):
a value that cannot be read fails the check, it never raises.
"""

from __future__ import annotations

import math
import warnings
from datetime import date
from typing import Any

import pandas as pd

from flows.availability import public_by
from flows.datasets.base import Table


def to_timestamps(values: pd.Series) -> pd.Series:
    """Dates as timestamps, NaT where a value is not a date. Bad input (text in a date column) makes pandas
    warn that it cannot infer a format; the type rule reports those rows, so the warning is noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
        return pd.to_datetime(values, errors="coerce")


def not_after(values: pd.Series, limit: date) -> pd.Series:
    """True where the value is a date on or before ``limit``."""
    stamps = to_timestamps(values)
    return stamps.notna() & (stamps <= pd.Timestamp(limit))


def known_by(frame: pd.DataFrame, *, date_column: str, as_of: date, at_column: str | None) -> pd.Series:
    """The ``gx_not_after_as_of`` check: dated on or before ``as_of`` and, where the dataset records when a
    row became public (``at_column``: ``available_at``, an SEC ``accepted_at``), public by the end of ``as_of``
    in New York (:func:`flows.availability.public_cutoff`). A source that leaks a later row fails it."""
    ok = not_after(frame[date_column], as_of)
    if at_column is not None and at_column in frame.columns:
        ok &= public_by(frame[at_column], as_of)
    return ok


def _is_number(value: Any) -> bool:
    """A value that converts to a float (ints beyond float range do not; text as pandas reads it)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, str) or not math.isnan(number)


def _numeric_ok(values: pd.Series) -> pd.Series:
    try:
        return values.isna() | pd.to_numeric(values, errors="coerce").notna()
    except (OverflowError, TypeError, ValueError):  # e.g. a Python int beyond int64 and float in an object column
        return values.isna() | values.map(_is_number).astype(bool)


def types_ok(table: Table, frame: pd.DataFrame) -> pd.Series:
    """True where every numeric column holds a number (or nothing) and every date or timestamp column a date
    (or nothing): the table's declared types, checked before anything is cast."""
    ok = pd.Series(True, index=frame.index)
    for column in table.numeric_columns:
        if column in frame.columns:
            ok &= _numeric_ok(frame[column])
    for column in [*table.date_columns, *table.timestamp_columns]:
        if column in frame.columns:
            values = frame[column]
            ok &= values.isna() | to_timestamps(values).notna()
    return ok
