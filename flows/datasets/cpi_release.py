"""When each month's CPI became public: the BLS release calendar, else a configurable lag.

BLS publishes the CPI of a reference month in a later month, usually between
the 10th and the 15th. The 2025 federal shutdown moved September 2025 to
2025-10-24 and November 2025 to 2025-12-18, and October 2025 was never
published. gapwatch uses a CPI print only from its release date, so a run
``--as-of`` a past date never sees a number before it existed.

``flows/config/cpi_release_dates.csv`` holds the release dates that were
verified (BLS releases or dated press coverage of them), one row per reference
month; an empty ``release_date`` marks a month BLS never published. A month
not in the file is *estimated*: it counts as released on day
``Settings.cpi_release_lag_days`` (default 15) of the following month.

This module is the only place that decides a CPI release date: the cpi
extract, the GX as-of check and the freshness report all ask it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd

from flows.settings import ConfigError, Settings

CALENDAR_FILE = Path(__file__).resolve().parents[1] / "config" / "cpi_release_dates.csv"
RELEASE_COLUMNS = ("release_date", "is_release_date_estimated")


@dataclass(frozen=True)
class CpiRelease:
    """The release of one reference month's CPI."""

    reference_month: date
    release_date: date | None  # None: never published (or beyond the last representable date)
    is_estimated: bool  # True: lag rule; False: from the release calendar
    source_url: str | None = None

    def is_known_on(self, as_of: date) -> bool:
        """Had this month's CPI been published by the end of ``as_of``?"""
        return self.release_date is not None and self.release_date <= as_of


def month_start(day: date) -> date:
    return day.replace(day=1)


def following_month(day: date) -> date | None:
    """First day of the month after ``day``'s month (None past year 9999)."""
    if day.month == 12:
        return None if day.year >= 9999 else date(day.year + 1, 1, 1)
    return date(day.year, day.month + 1, 1)


def estimated_release_date(reference_month: date, *, lag_days: int) -> date | None:
    """Day ``lag_days`` of the month after ``reference_month`` (15 -> the 15th)."""
    following = following_month(reference_month)
    if following is None:
        return None
    try:
        return following + timedelta(days=lag_days - 1)
    except OverflowError:
        return None


def load_calendar(path: Path = CALENDAR_FILE) -> dict[date, CpiRelease]:
    """The verified BLS release dates by reference month (first of the month).

    Parsed once per version of the file, so a long-running `gapwatch serve` picks up an edit.
    """
    try:
        modified = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise ConfigError(f"CPI release calendar not found: {path}.") from None
    return _parse_calendar(path, modified)


@lru_cache(maxsize=4)
def _parse_calendar(path: Path, modified: int) -> dict[date, CpiRelease]:  # modified: the cache key only
    text = path.read_text(encoding="utf-8")
    calendar: dict[date, CpiRelease] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        where = f"{path}, line {line}"
        try:
            month = date.fromisoformat((row.get("reference_month") or "").strip())
            released = (row.get("release_date") or "").strip()
            release = date.fromisoformat(released) if released else None
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}; dates are YYYY-MM-DD.") from None
        if month.day != 1:
            raise ConfigError(f"{where}: reference_month {month} is not the first day of a month.")
        following = following_month(month)
        if release is not None and (following is None or release < following):
            raise ConfigError(f"{where}: release_date {release} is not after reference month {month:%Y-%m}.")
        if month in calendar:
            raise ConfigError(f"{where}: reference_month {month} is listed twice.")
        calendar[month] = CpiRelease(month, release, False, (row.get("source_url") or "").strip() or None)
    return calendar


def release_for(reference_month: date, *, lag_days: int, calendar: dict[date, CpiRelease] | None = None) -> CpiRelease:
    """The calendar's release of ``reference_month`` when known, else the lag estimate."""
    month = month_start(reference_month)
    scheduled = (load_calendar() if calendar is None else calendar).get(month)
    if scheduled is not None:
        return scheduled
    return CpiRelease(month, estimated_release_date(month, lag_days=lag_days), True)


def release_date(reference_month: date, settings: Settings) -> CpiRelease:
    """The release of ``reference_month``'s CPI under ``settings`` (its ``cpi_release_lag_days``)."""
    return release_for(reference_month, lag_days=settings.cpi_release_lag_days)


def is_released(reference_month: date, *, as_of: date, lag_days: int) -> bool:
    """Was the CPI of ``reference_month`` public by the end of ``as_of``?"""
    return release_for(reference_month, lag_days=lag_days).is_known_on(as_of)


def _reference_months(values: pd.Series) -> list[date | None]:
    stamps = pd.to_datetime(values, errors="coerce")
    return [None if pd.isna(stamp) else stamp.date() for stamp in stamps]


def with_release_dates(frame: pd.DataFrame, *, lag_days: int) -> pd.DataFrame:
    """``frame`` (raw.cpi rows) with ``release_date`` and ``is_release_date_estimated`` from ``period_date``.

    A row whose period_date is not a date, or whose month was never published,
    gets null release columns: validation rejects it instead of it vanishing.
    """
    out = frame.copy()
    releases = [
        None if month is None else release_for(month, lag_days=lag_days)
        for month in _reference_months(frame["period_date"])
    ]
    out["release_date"] = pd.Series(
        [None if r is None else r.release_date for r in releases], index=frame.index, dtype="object"
    )
    out["is_release_date_estimated"] = pd.Series(
        [None if r is None or r.release_date is None else r.is_estimated for r in releases],
        index=frame.index,
        dtype="boolean",
    )
    return out


def released_by(frame: pd.DataFrame, *, as_of: date, lag_days: int) -> pd.DataFrame:
    """The rows of ``frame`` already published on ``as_of``, with their release columns.

    Only rows known to be released later are dropped; rows whose release
    cannot be worked out are kept for validation to reject.
    """
    if "period_date" not in frame.columns:
        return frame
    dated = with_release_dates(frame, lag_days=lag_days)
    later = [release is not None and release > as_of for release in dated["release_date"]]
    return dated[[not is_later for is_later in later]].reset_index(drop=True)
