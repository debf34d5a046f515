"""When a row became public: the ``available_at`` rules, each written once.

Every fundamental, CPI print and policy event carries ``available_at``, a UTC timestamp (a naive
``timestamp`` that means UTC). A source that knows the exact time gives it (an SEC filing's EDGAR
acceptance time); otherwise the dataset's :class:`LocalTime` rule derives it from the row's date:

* a date-only report or event: the **after-close rule** -- public at the close of that day's New York
  session (16:00 America/New_York), so usable from the next session on every market;
* a CPI print: 08:30 America/New_York on its release date (BLS's release time).

The marts decide "known before the close of trade date D on market M" in one dbt macro,
``known_before_close`` (``dbt_project/macros/point_in_time.sql``), against ``raw.market_sessions``.

The same rule renders as pandas (every extraction) and as SQL (:meth:`LocalTime.sql`: the backfill of a
warehouse created before the column existed), so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

COLUMN = "available_at"
NEW_YORK = "America/New_York"
US_CLOSE = time(16, 0)
CPI_RELEASE_TIME = time(8, 30)


@dataclass(frozen=True)
class LocalTime:
    """``available_at`` = the date in ``column`` at local time ``at`` in ``zone``, as UTC."""

    column: str
    at: time = US_CLOSE
    zone: str = NEW_YORK

    def __post_init__(self) -> None:
        ZoneInfo(self.zone)  # an IANA zone name (no quote can reach the SQL below)

    def stamps(self, frame: pd.DataFrame) -> pd.Series:
        """UTC (naive) timestamps for ``frame``'s rows; NaT where the date is missing or unreadable."""
        if self.column not in frame.columns:
            return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
        days = pd.to_datetime(frame[self.column], errors="coerce")
        local = (days.dt.normalize() + pd.Timedelta(hours=self.at.hour, minutes=self.at.minute)).dt.tz_localize(
            self.zone, nonexistent="shift_forward", ambiguous=False
        )
        return local.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")

    def fill(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with ``available_at`` derived where the source gave none (a copy when it changes)."""
        derived = self.stamps(frame)
        if COLUMN in frame.columns:
            given = pd.to_datetime(frame[COLUMN], errors="coerce")
            if given.notna().all():
                return frame
            derived = given.where(given.notna(), derived)
        return frame.assign(**{COLUMN: derived})

    def sql(self) -> str:
        """The same rule as a DuckDB expression over the row's columns (ICU time zones)."""
        local = f"cast({self.column} as timestamp) + interval '{self.at.hour * 60 + self.at.minute} minutes'"
        return f"timezone('UTC', timezone('{self.zone}', {local}))"


def end_of_day(day: date, zone: str = NEW_YORK) -> datetime:
    """The first instant after calendar day ``day`` in ``zone``, as a naive UTC datetime: "public by D"
    means available before it."""
    stamp = pd.Timestamp(day + timedelta(days=1)).tz_localize(zone).tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()
