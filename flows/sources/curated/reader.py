"""The curated policy-event calendar committed as ``policy_events.csv``.

Real, dated events (export controls, China platform regulation, FOMC
decisions, CPI releases, US-China and US-Japan meetings). ``source_url``
points to the publishing authority; where a deep link could not be verified
offline it points to the authority's site. Add an event only when its date is
certain.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pandas as pd

SOURCE = "curated"
EVENT_COLUMNS = ["event_id", "event_date", "category", "region", "title", "source_url", "source"]


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
    return frame.reset_index(drop=True)
