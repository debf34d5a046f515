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

**The as-of cut-off.** A run ``--as-of D`` knows what was public *before the end of calendar day D in New
York*: :func:`public_cutoff` (naive UTC), :func:`is_public_by`, :func:`public_by`. Sources bound their
queries and rows by it, and the datasets' GX derived check ``gx_public_by_as_of`` asserts it on
``available_at``, so a source that leaks a later row is caught.

**The rules for one fact** (scalars, where a source knows more than a date), each once:

============================  =====================================================================
fact                          ``available_at``
============================  =====================================================================
an SEC filing                 EDGAR's acceptance time (``flows.sources.sec_edgar.submissions``; the
                              sample filings: ``flows.sources.sample.filings.accepted_at``); else
                              :func:`after_close` of its filing date
a date-only report or event   :func:`after_close` (16:00 at the market's close, New York by default)
a CPI print                   :func:`cpi_released_at`: 08:30 New York on the release date
a Federal Register document   :func:`federal_register_public_at`: 06:00 New York on the publication
                              date (the day's issue is on federalregister.gov from then)
a curated event               :func:`event_available_at`: the calendar's time when it gives one, else
                              the after-close rule of the issuer's region (the latest close of those
                              it names: 'US-CN' -> New York)
============================  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

COLUMN = "available_at"
NEW_YORK = "America/New_York"
US_CLOSE = time(16, 0)
CPI_RELEASE_TIME = time(8, 30)
FEDERAL_REGISTER_TIME = time(6, 0)  # federalregister.gov publishes each day's issue from 06:00 Eastern

# Where a date-only event's day ends: the close of the issuer's market (time zone, local close).
REGION_CLOSE: dict[str, tuple[str, time]] = {
    "US": (NEW_YORK, US_CLOSE),
    "CN": ("Asia/Shanghai", time(15, 0)),  # SSE / SZSE
    "HK": ("Asia/Hong_Kong", time(16, 0)),
    "JP": ("Asia/Tokyo", time(15, 30)),  # TSE since November 2024
    "global": (NEW_YORK, US_CLOSE),  # the last of the main markets to close
}


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


# --- the as-of cut-off -------------------------------------------------------------------------------------


def public_cutoff(as_of: date) -> datetime:
    """What a run as of ``as_of`` may know: available strictly before this instant (the end of ``as_of`` in
    New York, naive UTC)."""
    return end_of_day(as_of, NEW_YORK)


def first_as_of(available_at: datetime) -> date:
    """The earliest as-of date whose run may know something available at ``available_at`` (naive UTC): its
    calendar day in New York (``is_public_by(t, d)`` holds exactly when ``d >= first_as_of(t)``)."""
    return pd.Timestamp(available_at).tz_localize("UTC").tz_convert(NEW_YORK).date()


def is_public_by(available_at: datetime, as_of: date) -> bool:
    """Was something available at ``available_at`` (naive UTC) public by the end of ``as_of`` in New York?"""
    return available_at < public_cutoff(as_of)


def public_by(available_at: pd.Series, as_of: date) -> pd.Series:
    """Row by row :func:`is_public_by`; a value that is not a timestamp is not public (False)."""
    stamps = pd.to_datetime(available_at, errors="coerce")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return (stamps.notna() & (stamps < pd.Timestamp(public_cutoff(as_of)))).astype(bool)


# --- the rules for one fact (scalars) ----------------------------------------------------------------------


def to_utc(day: date, at: time, zone: str) -> datetime:
    """The wall-clock time ``at`` on ``day`` in ``zone``, as naive UTC (zoneinfo: EST/EDT as the date needs)."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


def after_close(day: date, *, zone: str = NEW_YORK, close: time = US_CLOSE) -> datetime:
    """A date-only report or event: public at the market's close that day (:class:`LocalTime`'s default)."""
    return to_utc(day, close, zone)


def cpi_released_at(release_date: date) -> datetime:
    """A CPI print: 08:30 New York on its BLS release date."""
    return to_utc(release_date, CPI_RELEASE_TIME, NEW_YORK)


def federal_register_public_at(publication_date: date) -> datetime:
    """A Federal Register document: 06:00 New York on its publication date."""
    return to_utc(publication_date, FEDERAL_REGISTER_TIME, NEW_YORK)


def region_closes(region: str) -> list[tuple[str, time]]:
    """The closes of the markets a region names ('US-CN' -> New York and Shanghai); an unknown part -> global."""
    parts = [part.strip() for part in str(region).split("-") if part.strip()] or ["global"]
    return [REGION_CLOSE.get(part, REGION_CLOSE["global"]) for part in parts]


def event_available_at(event_date: date, region: str, *, at: time | None = None, zone: str = NEW_YORK) -> datetime:
    """A dated policy event: ``at`` (``zone`` time) when the calendar gives a time, else the after-close rule of
    the issuer's region -- the latest of the closes when it names several (known on every market by then)."""
    if at is not None:
        return to_utc(event_date, at, zone)
    return max(after_close(event_date, zone=zone_name, close=close) for zone_name, close in region_closes(region))
