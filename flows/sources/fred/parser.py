"""Read a FRED graph CSV into ``raw.cpi`` rows, with the BLS series id.

The wire format::

    observation_date,CPIAUCNS        <- since late 2024; before that the header was DATE,CPIAUCNS
    2025-09-01,324.800
    2025-10-01,                      <- missing: empty in the newer files, "." in the older ones
    2025-11-01,324.122

Rules: both header spellings are accepted; the value column must be the
requested series; ``.`` or an empty value means no observation (October 2025
was never published) and gives no row. An HTML page (FRED answers some
errors with one, status 200 included), a wrong header, a date that is not the
first of a month or a value that is not a number raise ``SourceError``.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date
from typing import Any

import pandas as pd

from flows.sources.cpi_package.reader import CPI_COLUMNS
from flows.sources.fred.client import FRED_TO_BLS
from flows.sources.http import SourceError

SOURCE = "fred"
DATE_HEADERS = ("observation_date", "DATE")
MISSING = frozenset({".", ""})


def parse_csv(body: bytes, *, fred_id: str, source: str = SOURCE) -> pd.DataFrame:
    """CPI_COLUMNS rows for one FRED series; ``series_id`` is the BLS id the FRED id republishes."""
    if fred_id not in FRED_TO_BLS:
        raise ValueError(f"Unknown FRED CPI series {fred_id!r}; expected one of {sorted(FRED_TO_BLS)}.")
    series_id = FRED_TO_BLS[fred_id]
    text = _text(body, fred_id=fred_id)
    try:
        return _parse_text(text, fred_id=fred_id, series_id=series_id, source=source)
    except csv.Error as exc:  # e.g. a lone carriage return inside a line, a field over the csv size limit
        raise SourceError(f"FRED CSV for {fred_id} is not readable CSV: {exc}.", source=SOURCE, key=fred_id) from exc


def _parse_text(text: str, *, fred_id: str, series_id: str, source: str) -> pd.DataFrame:
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip() for cell in next(reader, [])]
    if len(header) != 2 or header[0] not in DATE_HEADERS or header[1].upper() != fred_id.upper():
        raise SourceError(
            f"FRED CSV for {fred_id} has header {','.join(header)!r}; expected 'observation_date,{fred_id}' "
            f"(or the older 'DATE,{fred_id}'). Check the series id and the download URL.",
            source=SOURCE,
            key=fred_id,
        )
    rows: list[dict[str, Any]] = []
    for line_number, cells in enumerate(reader, start=2):
        if not cells or all(not cell.strip() for cell in cells):
            continue
        row = _row(cells, line_number=line_number, fred_id=fred_id, series_id=series_id, source=source)
        if row is not None:
            rows.append(row)
    if not rows:
        return pd.DataFrame(
            {column: pd.Series(dtype="float64" if column == "value" else object) for column in CPI_COLUMNS}
        )
    frame = pd.DataFrame(rows, columns=CPI_COLUMNS)
    frame["value"] = frame["value"].astype("float64")
    return frame.drop_duplicates(["period_date"], keep="last").sort_values("period_date").reset_index(drop=True)


def _text(body: bytes, *, fred_id: str) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"FRED CSV for {fred_id} is not UTF-8 text ({exc}).", source=SOURCE, key=fred_id) from exc
    if text.lstrip()[:1] == "<":
        raise SourceError(
            f"FRED returned an HTML page instead of the CSV for {fred_id}: {text.strip()[:120]!r}. "
            "The series id may be wrong or FRED may be blocking the client; open the URL in a browser.",
            source=SOURCE,
            key=fred_id,
        )
    return text


def _row(cells: list[str], *, line_number: int, fred_id: str, series_id: str, source: str) -> dict[str, Any] | None:
    if len(cells) != 2:
        raise SourceError(
            f"FRED CSV for {fred_id}, line {line_number}, has {len(cells)} cells: {cells!r}; expected date,value.",
            source=SOURCE,
            key=fred_id,
        )
    raw_date, raw_value = cells[0].strip(), cells[1].strip()
    try:
        period_date = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise SourceError(
            f"FRED CSV for {fred_id}, line {line_number}: {raw_date!r} is not an ISO date.", source=SOURCE, key=fred_id
        ) from exc
    if period_date.day != 1:
        raise SourceError(
            f"FRED CSV for {fred_id}, line {line_number}: {raw_date} is not the first of a month; "
            "CPI observations are monthly. Was a frequency or aggregation option added to the URL?",
            source=SOURCE,
            key=fred_id,
        )
    if raw_value in MISSING:
        return None
    try:
        value = float(raw_value)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise SourceError(
            f"FRED CSV for {fred_id}, {raw_date}: value {raw_value!r} is not a number ('.' means missing).",
            source=SOURCE,
            key=fred_id,
        )
    return {"series_id": series_id, "period_date": period_date, "value": value, "source": source}
