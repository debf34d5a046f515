"""Point-in-time truth: when a fact became public, and what a run as of a date may know.

The rule (issue 13): a number dated D may use only what was public before the close of D on that row's
market, and the world "as of D" never changes when later data arrives. Two halves, both here:

- **The cut-off.** A run ``--as-of D`` knows what was public *before the end of calendar day D in New York*
  (``America/New_York``): :func:`public_cutoff` (naive UTC) and :func:`is_public_by` /
  :func:`public_by`. Sources bound their queries and rows by it, and every dataset's GX derived check
  asserts it (``gx_public_by_as_of``), so a source that leaks a later row is caught.
- **Availability** (``available_at``, naive UTC): one function per rule.

  ============================  ===================================================================
  rule                          function
  ============================  ===================================================================
  a date-only fact              :func:`after_close`: 16:00 on the date at the market's close
                                (the row's exchange; New York by default)
  an SEC filing                 EDGAR's acceptance time (``flows.sources.sec_edgar.submissions``
                                reads it, already in UTC); without one, :func:`after_close` of the
                                filing date
  a CPI print                   :func:`cpi_released_at`: 08:30 New York on the release date
  a Federal Register document   :func:`federal_register_public_at`: 06:00 New York on the
                                publication date (public inspection on federalregister.gov)
  a curated event               :func:`event_available_at`: the time the calendar gives, else
                                :func:`after_close` in the issuer's region (the latest close when the
                                event names several)
  ============================  ===================================================================

Timestamps are naive UTC throughout (DuckDB ``TIMESTAMP``, the ``*_at`` column convention); zoneinfo
decides EST/EDT (HKT, CST, JST) for each date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

NEW_YORK = "America/New_York"
MARKET_CLOSE = time(16, 0)  # NYSE, Nasdaq and HKEX all close at 16:00 local time
CPI_RELEASE_TIME = time(8, 30)  # BLS publishes the CPI at 08:30 Eastern
FEDERAL_REGISTER_TIME = time(6, 0)  # federalregister.gov publishes each day's issue from 06:00 Eastern

# Where a date-only event's day ends: the close of the issuer's market (time zone, close).
REGION_CLOSE: dict[str, tuple[str, time]] = {
    "US": (NEW_YORK, MARKET_CLOSE),
    "CN": ("Asia/Shanghai", time(15, 0)),  # SSE / SZSE
    "HK": ("Asia/Hong_Kong", MARKET_CLOSE),
    "JP": ("Asia/Tokyo", time(15, 30)),  # TSE since November 2024
    "global": (NEW_YORK, MARKET_CLOSE),  # the last of the main markets to close
}


def to_utc(day: date, at: time, zone: str) -> datetime:
    """The wall-clock time ``at`` on ``day`` in ``zone``, as naive UTC."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


def public_cutoff(as_of: date) -> datetime:
    """The end of calendar day ``as_of`` in New York, as naive UTC: a run as of ``as_of`` knows what became
    public strictly before it."""
    return to_utc(as_of + timedelta(days=1), time(0, 0), NEW_YORK)


def is_public_by(available_at: datetime, as_of: date) -> bool:
    """Was something available at ``available_at`` (naive UTC) public by the end of ``as_of`` in New York?"""
    return available_at < public_cutoff(as_of)


def public_by(available_at: pd.Series, as_of: date) -> pd.Series:
    """Row by row :func:`is_public_by`; a value that is not a timestamp is not public (False)."""
    stamps = pd.to_datetime(available_at, errors="coerce")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return (stamps.notna() & (stamps < pd.Timestamp(public_cutoff(as_of)))).astype(bool)


def after_close(day: date, *, zone: str = NEW_YORK, close: time = MARKET_CLOSE) -> datetime:
    """A date-only fact (a report date, an event date): public at the market's close that day."""
    return to_utc(day, close, zone)


def cpi_released_at(release_date: date) -> datetime:
    """A CPI print: 08:30 New York on its BLS release date."""
    return to_utc(release_date, CPI_RELEASE_TIME, NEW_YORK)


def federal_register_public_at(publication_date: date) -> datetime:
    """A Federal Register document: 06:00 New York on its publication date."""
    return to_utc(publication_date, FEDERAL_REGISTER_TIME, NEW_YORK)


def region_close(region: str) -> list[tuple[str, time]]:
    """The closes of the markets a region names ('US-CN' -> New York and Shanghai); unknown parts -> global."""
    parts = [part.strip() for part in str(region).split("-") if part.strip()] or ["global"]
    return [REGION_CLOSE.get(part, REGION_CLOSE["global"]) for part in parts]


def event_available_at(event_date: date, region: str, *, at: time | None = None, zone: str = NEW_YORK) -> datetime:
    """A dated policy event: ``at`` (``zone`` time, New York by default) when the calendar gives a time, else
    the after-close rule of the issuer's region (the latest of the closes when it names several: known
    everywhere by then)."""
    if at is not None:
        return to_utc(event_date, at, zone)
    return max(after_close(event_date, zone=zone, close=close) for zone, close in region_close(region))
