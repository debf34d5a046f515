"""The curated policy-event calendar committed as ``policy_events.csv``.

Real, dated events (export controls, China platform regulation, FOMC
decisions, CPI releases, US-China and US-Japan meetings). ``source_url``
points to the publishing authority; where a deep link could not be verified
offline it points to the authority's site. Add an event only when its date is
certain.

``available_at`` (UTC) says when each event became public
(:func:`flows.availability.event_available_at`): the optional ``event_time``
column -- ``HH:MM`` New York time, or ``HH:MM Area/City`` in another zone --
when the time is certain (FOMC statements 14:00, BLS CPI 08:30), else the
after-close rule of the issuer's region. An unreadable time leaves it empty,
for validation to report.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from flows.availability import NEW_YORK, event_available_at

SOURCE = "curated"
EVENT_COLUMNS = ["event_id", "event_date", "category", "region", "title", "source_url", "source", "available_at"]
TIME_COLUMN = "event_time"  # optional in the CSV: 'HH:MM' (New York) or 'HH:MM Area/City'
_TIME = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?:\s+(?P<zone>[A-Za-z_]+(?:/[A-Za-z_+-]+)+))?")


def read_payload(path: Path) -> bytes:
    return path.read_bytes()


def parse_events(payload: bytes, *, until: date) -> pd.DataFrame:
    """Parse the calendar CSV; keep events dated on or before ``until``.

    Dates that are not ISO dates become NaT so validation reports them by row.
    """
    frame = pd.read_csv(io.BytesIO(payload), dtype=str, keep_default_na=False)
    if "event_date" in frame.columns:
        stamps = pd.to_datetime(frame["event_date"], format="%Y-%m-%d", errors="coerce")
        frame["event_date"] = stamps.dt.date
        # compare the timestamps: when every date is unreadable pandas keeps the column as datetime64 NaT,
        # which cannot be compared with a date
        frame = frame[stamps.isna() | (stamps <= pd.Timestamp(until))].copy()
    frame["source"] = SOURCE
    frame["available_at"] = _available_at(frame)
    return frame.drop(columns=[TIME_COLUMN], errors="ignore").reset_index(drop=True)


def _available_at(frame: pd.DataFrame) -> pd.Series:
    """When each event became public (naive UTC); NaT where the date, region or time cannot be read."""
    times = frame[TIME_COLUMN] if TIME_COLUMN in frame.columns else pd.Series("", index=frame.index)
    regions = frame["region"] if "region" in frame.columns else pd.Series("", index=frame.index)
    days = frame["event_date"] if "event_date" in frame.columns else pd.Series(None, index=frame.index)
    stamps = [
        _event_stamp(day, str(region), str(text or "").strip())
        for day, region, text in zip(days, regions, times, strict=True)
    ]
    return pd.Series(stamps, index=frame.index, dtype="datetime64[us]")


def _event_stamp(day: object, region: str, text: str) -> datetime | None:
    if day is None or pd.isna(day) or not isinstance(day, date):
        return None
    if not text:
        return event_available_at(day, region)
    match = _TIME.fullmatch(text)
    if match is None or int(match["hour"]) > 23 or int(match["minute"]) > 59:
        return None
    try:
        return event_available_at(
            day, region, at=time(int(match["hour"]), int(match["minute"])), zone=match["zone"] or NEW_YORK
        )
    except (KeyError, ValueError):  # an unknown zone
        return None
