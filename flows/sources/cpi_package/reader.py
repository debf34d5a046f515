"""US CPI-U from the BLS database that the PyPI package ``cpi`` ships.

REAL DATA. The ``cpi`` package bundles a SQLite copy of the BLS CPI
database; we read it directly (read-only, no network, without importing the
package, whose import prints a staleness warning and loads every series).

Months BLS never published (October 2025, lost to the federal shutdown) have
no row in the database and get no row here: a gap stays a gap.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd

SOURCE = "bls_cpi_package"
SERIES: dict[str, str] = {
    "CUUR0000SA0": "CPI-U all items, U.S. city average, not seasonally adjusted",
    "CUSR0000SA0": "CPI-U all items, U.S. city average, seasonally adjusted",
    "CUUR0000SA0L1E": "CPI-U all items less food and energy, not seasonally adjusted",
    "CUSR0000SA0L1E": "CPI-U all items less food and energy, seasonally adjusted",
}
CPI_COLUMNS = ["series_id", "period_date", "value", "source"]


class CpiDatabaseMissing(RuntimeError):
    """The ``cpi`` package or its bundled database is not installed."""


def database_path() -> Path:
    spec = importlib.util.find_spec("cpi")
    if spec is None or spec.origin is None:
        raise CpiDatabaseMissing("The 'cpi' package is not installed; run `make install` (it is in the lock file).")
    path = Path(spec.origin).parent / "cpi.db"
    if not path.exists():
        raise CpiDatabaseMissing(f"The 'cpi' package has no bundled database at {path}.")
    return path


def read_cpi(*, first_month: date, last_month: date, series: list[str] | None = None) -> pd.DataFrame:
    """Monthly index values for ``series`` with reference months in [first_month, last_month].

    Only monthly periods M01..M12 are returned; M13 (annual average) is not a month.
    """
    wanted = series or list(SERIES)
    placeholders = ",".join("?" for _ in wanted)
    query = (
        "select series, year, period, value from indexes "
        f"where series in ({placeholders}) and period between 'M01' and 'M12' and year between ? and ?"
    )
    uri = f"file:{database_path()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        rows = connection.execute(query, [*wanted, first_month.year, last_month.year]).fetchall()
    frame = pd.DataFrame(rows, columns=["series_id", "year", "period", "value"])
    frame["period_date"] = [date(int(y), int(p[1:]), 1) for y, p in zip(frame["year"], frame["period"], strict=True)]
    frame = frame[(frame["period_date"] >= first_month) & (frame["period_date"] <= last_month)]
    frame["value"] = frame["value"].astype("float64")
    frame["source"] = SOURCE
    return frame.sort_values(["series_id", "period_date"]).reset_index(drop=True)[CPI_COLUMNS]
