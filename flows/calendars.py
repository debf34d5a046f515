"""Exchange trading calendars (NYSE, Nasdaq, HKEX) from ``exchange_calendars``, offline."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import pandas as pd

CALENDAR_START = date(2000, 1, 3)


class CalendarRangeError(ValueError):
    """A date is outside the range the bundled trading calendars cover."""


@lru_cache(maxsize=8)
def _calendar(exchange: str):  # type: ignore[no-untyped-def]
    import exchange_calendars

    return exchange_calendars.get_calendar(exchange, start=pd.Timestamp(CALENDAR_START))


def last_calendar_day(exchange: str) -> date:
    return _calendar(exchange).last_session.date()


# Every exchange a security of the universe may trade on (flows/warehouse/schema.py: raw.securities.exchange).
EXCHANGES = ("XNYS", "XNAS", "XHKG")


def calendars_end() -> tuple[date, str]:
    """The last date every bundled calendar covers, and the exchange whose calendar ends first."""
    return min((last_calendar_day(exchange), exchange) for exchange in EXCHANGES)


def check_as_of(as_of: date, *, today: date | None = None, history_start: date | None = None) -> None:
    """Refuse a run date gapwatch cannot be truthful about, before anything is extracted: one line, no traceback.

    The one rule for every run (the CLI refuses with exit 2, the flow records a failed run): not after
    ``today`` (today in the schedule's timezone: a future as-of would publish rows dated after anything known),
    not before ``history_start`` (the first day of the history gapwatch keeps), not beyond the bundled
    trading calendars. Raises :class:`CalendarRangeError` naming the allowed range and what to do.
    """
    if today is not None and as_of > today:
        raise CalendarRangeError(
            f"--as-of {as_of} is in the future (today is {today} in New York): a run may only use what is "
            f"public, so choose an --as-of on or before {today}. Nothing was extracted."
        )
    if history_start is not None and as_of < history_start:
        raise CalendarRangeError(
            f"--as-of {as_of} is before the history gapwatch keeps, which starts on {history_start} "
            f"(GAPWATCH_SAMPLE_YEARS sets it): choose an --as-of on or after {history_start}. Nothing was extracted."
        )
    end, exchange = calendars_end()
    if as_of > end:
        raise CalendarRangeError(
            f"--as-of {as_of} is beyond the bundled trading calendars, which end on {end} ({exchange}): "
            f"choose an --as-of on or before {end} (or upgrade exchange_calendars). Nothing was extracted."
        )


def sessions(exchange: str, start: date, end: date) -> pd.DatetimeIndex:
    """Trading sessions of ``exchange`` from ``start`` to ``end`` inclusive (naive dates)."""
    calendar = _calendar(exchange)
    if end > calendar.last_session.date():
        raise CalendarRangeError(
            f"{exchange} trading calendar ends on {calendar.last_session.date()}; cannot use dates up to {end}. "
            "Upgrade exchange_calendars or choose an earlier --as-of."
        )
    start = max(start, CALENDAR_START)
    if start > end:
        return pd.DatetimeIndex([])
    return calendar.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))


def session_times(exchange: str) -> pd.DataFrame:
    """Every session the bundled calendar of ``exchange`` knows (from CALENDAR_START to its last session, about a
    year ahead): ``session_date``, ``open_at`` and ``close_at`` as naive UTC timestamps (early closes included)."""
    schedule = _calendar(exchange).schedule
    return pd.DataFrame(
        {
            "exchange": exchange,
            "session_date": schedule.index.date,
            "open_at": schedule["open"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
            "close_at": schedule["close"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
        }
    )


def is_session(exchange: str, days: pd.Series) -> pd.Series:
    """Boolean Series: is each date a trading session of ``exchange``?"""
    stamps = pd.to_datetime(days, errors="coerce")  # unparseable or out-of-range dates are not sessions
    known = stamps.dropna()
    if known.empty:
        return pd.Series(False, index=days.index)
    first = max(known.min().date(), CALENDAR_START)
    last = min(known.max().date(), last_calendar_day(exchange))
    valid = sessions(exchange, first, last) if first <= last else pd.DatetimeIndex([])
    # compare at second resolution: far-future dates (year 9999) do not fit in nanoseconds
    return stamps.dt.as_unit("s").isin(pd.DatetimeIndex(valid).as_unit("s"))


# A scheduled day is skipped only when both of these are closed (see flows.ops.deployment).
SKIP_WHEN_CLOSED = {"XNYS": "NYSE", "XHKG": "HKEX"}


def closed_markets_reason(day: date) -> str | None:
    """Why a scheduled run on ``day`` ingests nothing (NYSE and HKEX both closed), or None to run.

    A date beyond the bundled calendars is not skipped: the run itself then
    fails with the calendar's own error, which says what to upgrade.
    """
    try:
        if any(len(sessions(exchange, day, day)) for exchange in SKIP_WHEN_CLOSED):
            return None
    except CalendarRangeError:
        return None
    return f"{' and '.join(SKIP_WHEN_CLOSED.values())} are both closed on {day:%a %Y-%m-%d}"
