"""Read a BLS API v2 timeseries response into ``raw.cpi`` rows.

The wire format (JSON)::

    {"status": "REQUEST_SUCCEEDED", "responseTime": 157, "message": [],
     "Results": {"series": [{"seriesID": "CUUR0000SA0", "data": [
         {"year": "2025", "period": "M10", "periodName": "October", "value": "-",
          "footnotes": [{"code": "X", "text": "Data unavailable due to the 2025 lapse in appropriations"}]},
         {"year": "2025", "period": "M09", "periodName": "September", "value": "324.800", "footnotes": [{}]},
         ...]}]}}

Rules:

- ``status`` other than ``REQUEST_SUCCEEDED`` is an error even though BLS sends
  it with HTTP 200 (daily threshold reached, invalid key, ...). The ``message``
  list is quoted in the ``SourceError``, with anything shaped like a
  registration key (32 hex digits) redacted. A successful status may still
  carry messages ("No Data Available for Series ... Year: 2026"): not errors --
  except "Year range has been reduced to the system-allowed limit of N years",
  which means BLS dropped the latest years of a request that was too long.
- ``value`` is a string. ``"-"`` (or empty) means not published -- October 2025
  was never collected -- and gives no row: a gap stays a gap.
- Only periods ``M01``..``M12`` are months. ``M13`` (annual average, sent when
  ``annualaverage`` is requested) and any other period code are skipped.
- Footnotes and ``latest`` are ignored. A series with no data gives no rows.
- Any other value that is not a number is an error: it means the format
  changed, and guessing would put a wrong number in the warehouse.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from typing import Any

import pandas as pd

from flows.sources.cpi_package.reader import CPI_COLUMNS
from flows.sources.http import REDACTED, SourceError

SOURCE = "bls_api"
ERROR_SOURCE = "bls"
SUCCEEDED = "REQUEST_SUCCEEDED"
NOT_PUBLISHED = frozenset({"-", ""})
# In "Year range has been reduced to the system-allowed limit of 10 years." (sent with REQUEST_SUCCEEDED).
TRUNCATED = "reduced to the system-allowed limit"
_MONTH_PERIOD = re.compile(r"M(0[1-9]|1[0-2])")
_KEY_LIKE = re.compile(r"\b[0-9A-Fa-f]{32}\b")


def parse_series(body: bytes, *, source: str = SOURCE) -> pd.DataFrame:
    """CPI_COLUMNS rows (series_id, first-of-month period_date, float value, source) from one response body."""
    document = _load(body)
    series_blocks = _series_blocks(document)
    key = ",".join(str(block.get("seriesID", "?")) for block in series_blocks) or "(no series in response)"
    rows: list[dict[str, Any]] = []
    for block in series_blocks:
        series_id = block.get("seriesID")
        if not isinstance(series_id, str) or not series_id:
            raise SourceError(
                f"BLS response has a series without a seriesID: {str(block)[:200]}. The format may have changed.",
                source=ERROR_SOURCE,
                key=key,
            )
        data = block.get("data") or []
        if not isinstance(data, list):
            raise SourceError(
                f"BLS series {series_id} has 'data' that is not a list: {str(data)[:200]}. "
                "The format may have changed.",
                source=ERROR_SOURCE,
                key=series_id,
            )
        for datum in data:
            row = _row(series_id, datum, source=source)
            if row is not None:
                rows.append(row)
    return _frame(rows)


def _load(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise SourceError(
            f"BLS response is not JSON ({exc}); it starts with {body[:80]!r}. Check the base URL and path.",
            source=ERROR_SOURCE,
            key="(unparsed response)",
        ) from exc
    if not isinstance(document, dict):
        raise SourceError(
            f"BLS response is JSON but not an object: {str(document)[:80]}.", source=ERROR_SOURCE, key="(response)"
        )
    status = document.get("status")
    messages = document.get("message") or []
    messages = [str(message) for message in (messages if isinstance(messages, list) else [messages])]
    if status != SUCCEEDED:
        quoted = "; ".join(_redact(message) for message in messages) or "(no message)"
        raise SourceError(
            f"BLS API answered status {status!r} with HTTP 200: {quoted}. "
            "If the daily threshold was reached, wait for the quota to reset, set a registration key "
            "(GAPWATCH_BLS_API_KEY) or switch the CPI source to FRED.",
            source=ERROR_SOURCE,
            key=f"status {status}",
        )
    truncated = [message for message in messages if TRUNCATED in message.lower()]
    if truncated:
        raise SourceError(
            f"BLS cut the request short and still said {SUCCEEDED}: {'; '.join(truncated)}. "
            "The latest years are missing from this response; the per-request limits in "
            "flows/sources/bls/client.py are larger than what BLS now allows -- lower them.",
            source=ERROR_SOURCE,
            key="(truncated request)",
        )
    return document


def _series_blocks(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``Results.series`` list; BLS's older documentation also shows ``Results`` as a list of such objects."""
    results = document.get("Results") or {}
    containers = results if isinstance(results, list) else [results]
    blocks: list[dict[str, Any]] = []
    for container in containers:
        if isinstance(container, dict):
            series = container.get("series") or []
            if not isinstance(series, list):
                raise SourceError(
                    f"BLS response has 'series' that is not a list: {str(series)[:200]}. The format may have changed.",
                    source=ERROR_SOURCE,
                    key="(response)",
                )
            blocks.extend(block for block in series if isinstance(block, dict))
    return blocks


def _row(series_id: str, datum: Any, *, source: str) -> dict[str, Any] | None:
    if not isinstance(datum, dict):
        raise SourceError(
            f"BLS series {series_id} has a data point that is not an object: {str(datum)[:200]}. "
            "The format may have changed.",
            source=ERROR_SOURCE,
            key=series_id,
        )
    period = str(datum.get("period", ""))
    if not _MONTH_PERIOD.fullmatch(period):
        return None  # M13 annual average, or a non-monthly period
    raw_value = str(datum.get("value", "")).strip()
    if raw_value in NOT_PUBLISHED:
        return None
    year = str(datum.get("year", ""))
    try:
        value = float(raw_value)
        if not math.isfinite(value):
            raise ValueError(raw_value)
        period_date = date(int(year), int(period[1:]), 1)
    except (ValueError, OverflowError) as exc:  # OverflowError: a year beyond any date
        raise SourceError(
            f"BLS value for {series_id} {year} {period} is not a number: {raw_value!r}. "
            "Only '-' is known to mean 'not published'; check the response and extend the parser if needed.",
            source=ERROR_SOURCE,
            key=series_id,
        ) from exc
    return {"series_id": series_id, "period_date": period_date, "value": value, "source": source}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            {column: pd.Series(dtype="float64" if column == "value" else object) for column in CPI_COLUMNS}
        )
    frame = pd.DataFrame(rows, columns=CPI_COLUMNS)
    frame["value"] = frame["value"].astype("float64")
    frame = frame.drop_duplicates(["series_id", "period_date"], keep="first")
    return frame.sort_values(["series_id", "period_date"]).reset_index(drop=True)


def _redact(text: str) -> str:
    """BLS error messages can quote the registration key ("The key: ... provided by the User is invalid")."""
    return _KEY_LIKE.sub(REDACTED, text)
