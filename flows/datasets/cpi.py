"""US CPI-U, monthly, by reference month (``raw.cpi``): headline and core, seasonally adjusted and not.

Every row carries the day BLS released it (``flows.datasets.cpi_release``): an
extraction as of a date keeps only the months already published by then,
whatever the source (the ``cpi`` package, BLS or FRED live, a replayed landing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from flows.availability import CPI_RELEASE_TIME, LocalTime
from flows.datasets import cpi_release
from flows.datasets.base import (
    Batch,
    CheckContext,
    Column,
    Cursor,
    Dataset,
    ExtractRequest,
    Freshness,
    LivePlan,
    Table,
    available_at_column,
)
from flows.datasets.checks import known_by, to_timestamps
from flows.datasets.freshness import latest_date
from flows.settings import Settings
from flows.sources.cpi_package import reader as cpi_reader
from flows.sources.jobs import KeyJob

if TYPE_CHECKING:
    import duckdb

# BLS publishes CPI at 08:30 New York time on its release date.
AVAILABILITY = LocalTime("release_date", CPI_RELEASE_TIME)

TABLE = Table(
    "raw.cpi",
    (
        Column("series_id", "varchar", nullable=False, comment=", ".join(cpi_reader.SERIES)),
        Column("period_date", "date", nullable=False, comment="first day of the reference month"),
        Column("value", "double", nullable=False),
        Column("release_date", "date", comment="the day BLS published the month"),
        Column("is_release_date_estimated", "boolean", comment="true: lag estimate; false: BLS release calendar"),
        Column("source", "varchar", nullable=False, comment="'bls_cpi_package' | 'bls_api' | 'fred'"),
        available_at_column(AVAILABILITY, "release_date at 08:30 New York"),
    ),
    keys=("series_id", "period_date"),
    date_column="period_date",
    comment="Monthly CPI observations; months never published (October 2025) have no row.",
)

# Live: the window starts this long before the newest stored month (BLS revises seasonally adjusted history).
LIVE_LOOKBACK_DAYS = 400


def extract_sample(request: ExtractRequest) -> Batch:
    """The real BLS CPI from the ``cpi`` package, from two years before the sample history (or the backfill)."""
    first_month = date((request.start or request.settings.sample.start_date).year - 2, 1, 1)
    frame = cpi_reader.read_cpi(first_month=first_month, last_month=request.as_of)
    return Batch("cpi", cpi_reader.SOURCE, frame, first_month, request.as_of)


def plan_live(request: ExtractRequest) -> LivePlan:
    """FRED's CSV per series (GAPWATCH_CPI_LIVE_SOURCE=fred), else one BLS API request for the four series."""
    settings = request.settings
    first = request.first_start(default=settings.sample.start_date, lookback_days=LIVE_LOOKBACK_DAYS)
    window = {"start": first.isoformat(), "end": request.as_of.isoformat()}
    if settings.live.cpi_source == "fred":
        from flows.sources.fred.client import FRED_TO_BLS

        jobs = [
            KeyJob(
                fred_id,
                "fred_csv",
                {"fred_id": fred_id, **window},
                "fred",
                "fred_csv",
                {"fred_id": fred_id, "start": first, "end": request.as_of},
                suffix=".csv",
            )
            for fred_id in FRED_TO_BLS
        ]
        return LivePlan("fred", jobs)
    series = list(cpi_reader.SERIES)
    years = {"series": series, "start_year": first.year, "end_year": request.as_of.year}
    return LivePlan("bls_api", [KeyJob("+".join(series), "bls_series", years, "bls", "bls_series", years)])


def combine(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per series and month (a month in two BLS year chunks: the later chunk wins)."""
    return frame.drop_duplicates(["series_id", "period_date"], keep="last")


def released_by(frame: pd.DataFrame, settings: Settings, as_of: date) -> pd.DataFrame:
    """Release dates on every row; only the months published by ``as_of`` are kept."""
    return cpi_release.released_by(frame, as_of=as_of, lag_days=settings.cpi_release_lag_days)


def _released_after_reference_month(periods: pd.Series, released: pd.Series) -> pd.Series:
    """True where the release date falls after the reference month ended (CPI cannot come out earlier)."""
    releases = to_timestamps(released)
    after = []
    for period, release in zip(periods, releases, strict=True):
        if pd.isna(period) or pd.isna(release):
            after.append(False)
            continue
        following = cpi_release.following_month(period.date())
        after.append(following is not None and release.date() >= following)
    return pd.Series(after, index=periods.index, dtype=bool)


def derive_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    """A month start, released by --as-of, released after its reference month ended."""
    if "period_date" not in frame.columns:
        return {}
    stamps = to_timestamps(frame["period_date"])
    released = frame["release_date"] if "release_date" in frame.columns else pd.Series(None, index=frame.index)
    return {
        "gx_is_month_start": stamps.dt.day == 1,
        "gx_not_after_as_of": known_by(
            frame.assign(release_date=released),
            date_column="release_date",
            as_of=context.as_of,
            at_column="available_at",
        ),
        "gx_released_after_reference_month": _released_after_reference_month(stamps, released),
    }


@dataclass(frozen=True)
class LatestReleasedMonth:
    """Expected: the newest reference month whose CPI BLS had released by the as-of date."""

    def check(
        self, connection: duckdb.DuckDBPyConnection, *, name: str, table: Any, settings: Settings, as_of: date
    ) -> Freshness:
        month = date(as_of.year, as_of.month, 1)
        while not cpi_release.is_released(month, as_of=as_of, lag_days=settings.cpi_release_lag_days):
            month = (pd.Timestamp(month) - pd.offsets.MonthBegin(1)).date()
        latest = latest_date(connection, table, "period_date", as_of=None)
        return Freshness(name, latest, month, stale_from=self.next_release(latest, settings), as_of=as_of)

    @staticmethod
    def next_release(latest: date | None, settings: Settings) -> date | None:
        """The release date of the first month after ``latest`` that has one (October 2025 never will)."""
        month = latest
        for _ in range(24) if latest is not None else ():
            month = cpi_release.following_month(month)
            if month is None:
                return None
            released = cpi_release.release_date(month, settings).release_date
            if released is not None:
                return released
        return None


DATASET = Dataset(
    name="cpi",
    family="cpi",
    description="US CPI-U by reference month (the real BLS database the `cpi` package ships, or BLS/FRED live)",
    table=TABLE,
    cursor=Cursor("series_id", sample=(), live=("bls_api", "fred")),
    extract_sample=extract_sample,
    plan_live=plan_live,
    combine=combine,
    prepare=released_by,
    derive_checks=derive_checks,
    freshness=LatestReleasedMonth(),
    availability=AVAILABILITY,
)
