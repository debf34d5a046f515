"""Deterministic sample SEC filings: the filing index the sample fundamentals imply.

SAMPLE DATA, NOT SEC DATA. Every row carries ``source = 'sample'`` and has the
columns of :data:`flows.sources.sec_edgar.submissions.SUBMISSION_COLUMNS`.

One filing set per distinct (ticker, report_date) of the fundamentals frame,
for the securities that have a CIK:

- US filers (group ``us_ai_leader``): a 10-Q -- a 10-K when the report covers
  the fiscal year (``period_months`` 12 or ``fiscal_quarter`` 4) -- and, a few
  minutes before it, the earnings 8-K (items ``2.02,9.01``: results of
  operations, the press release as an exhibit).
- ADRs (group ``china_tech``): a 6-K with the results -- a 20-F for the year.

``filing_date`` is the report date (the sample's report dates ignore the
calendar, so a few fall on weekends, when EDGAR is closed). ``report_date``
(the period of report) is the latest fiscal period end of the report for the
10-Q/10-K/6-K/20-F, the filing date for the 8-K (the date of the event).
Each report's filings are accepted either after the US close (16:05-17:30
New York time, all before EDGAR's 17:30 same-day cutoff) or before the open
(06:00-08:30), chosen and placed within the window by a hash of (ticker,
report date); ``accepted_at`` is that New York time in naive UTC (zoneinfo, so
EST/EDT follow the date). Accession numbers have the real format: the
company's own CIK as filer id (self-filed, like NVIDIA's
``0001045810-24-000316``), the two-digit year and a six-digit sequence made
from the day of the year -- stable, whatever else the frame holds, so a later
run that emits more reports gives the same filings the same numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pandas as pd

from flows.sources.sec_edgar.client import normalize_cik
from flows.sources.sec_edgar.submissions import submission_frame

SOURCE = "sample"
US_FILER_GROUP = "us_ai_leader"  # 10-Q / 10-K and the earnings 8-K
ADR_GROUP = "china_tech"  # 6-K / 20-F (only those with a CIK: ADRs listed in New York)
NEW_YORK = ZoneInfo("America/New_York")
AFTER_CLOSE = (time(16, 5), time(17, 30))
BEFORE_OPEN = (time(6, 0), time(8, 30))
EARNINGS_ITEMS = "2.02,9.01"
REPORT_AFTER_8K_MINUTES = (3, 15)  # the 10-Q/10-K follows the earnings 8-K by this many minutes
_SLOT = {"8-K": 1, "periodic": 2}  # accession sequence = day of year * 3 + slot: unique per company and year


class Filer(Protocol):
    """What the generator reads of a security (``flows.settings.Security`` has it)."""

    @property
    def ticker(self) -> str: ...

    @property
    def cik(self) -> str | None: ...

    @property
    def group(self) -> str: ...


def generate_filings(fundamentals: pd.DataFrame, securities: Iterable[Filer]) -> pd.DataFrame:
    """Sample filings (``SUBMISSION_COLUMNS``, ``source = 'sample'``), one set per (ticker, report_date)."""
    filers = {s.ticker: s for s in securities if is_filer(s)}
    reports = fundamentals[fundamentals["ticker"].isin(list(filers))]
    rows: list[dict[str, Any]] = []
    for (ticker, report_date), statements in reports.groupby(["ticker", "report_date"], sort=True):
        security = filers[str(ticker)]
        rows.extend(
            _filings(
                ticker=str(ticker),
                cik=normalize_cik(str(security.cik)),
                us_filer=security.group == US_FILER_GROUP,
                filed=_as_date(report_date),
                period_end=max(_as_date(end) for end in statements["fiscal_period_end"]),
                annual=_is_annual(statements),
            )
        )
    return submission_frame(rows)


def is_filer(security: Filer) -> bool:
    """Does the sample give ``security`` SEC filings (a CIK, a US filer or an ADR)?"""
    return bool(security.cik) and security.group in (US_FILER_GROUP, ADR_GROUP)


def report_accepted_at(ticker: str, *, us_filer: bool, filed: date) -> datetime:
    """When EDGAR accepted the sample periodic report (10-Q/10-K, 6-K/20-F) filed on ``filed``, naive UTC:
    the ``accepted_at`` of that filing, and the ``available_at`` of the sample fundamentals it carries."""
    return _utc(_acceptances(ticker, us_filer=us_filer, filed=filed)[1])


def _acceptances(ticker: str, *, us_filer: bool, filed: date) -> tuple[datetime | None, datetime]:
    """New York times of one report's filings: (the earnings 8-K or None for an ADR, the periodic report)."""
    draw = _draws(ticker, filed)
    start, end = AFTER_CLOSE if next(draw) % 2 == 0 else BEFORE_OPEN
    window = int((datetime.combine(filed, end) - datetime.combine(filed, start)).total_seconds())
    if not us_filer:
        return None, datetime.combine(filed, start) + timedelta(seconds=next(draw) % (window + 1))
    low, high = REPORT_AFTER_8K_MINUTES
    gap = timedelta(minutes=low, seconds=next(draw) % ((high - low) * 60 + 1))
    earnings = datetime.combine(filed, start) + timedelta(seconds=next(draw) % (window - high * 60 + 1))
    return earnings, earnings + gap


def _filings(
    *, ticker: str, cik: str, us_filer: bool, filed: date, period_end: date, annual: bool
) -> list[dict[str, Any]]:
    earnings, report = _acceptances(ticker, us_filer=us_filer, filed=filed)
    slug = re.sub(r"[^a-z0-9]", "", ticker.lower()) or "filer"
    base = {"ticker": ticker, "cik": cik, "filing_date": filed, "source": SOURCE}
    if earnings is None:
        form = "20-F" if annual else "6-K"
        document = f"{slug}-{period_end:%Y%m%d}.htm" if annual else f"{slug}-{filed:%Y%m%d}x6k.htm"
        return [
            {**base, "accession_number": _accession(cik, filed, "periodic"), "form": form, "items": None,
             "accepted_at": _utc(report), "report_date": period_end, "primary_document": document},
        ]  # fmt: skip
    return [
        {**base, "accession_number": _accession(cik, filed, "8-K"), "form": "8-K", "items": EARNINGS_ITEMS,
         "accepted_at": _utc(earnings), "report_date": filed, "primary_document": f"{slug}-{filed:%Y%m%d}.htm"},
        {**base, "accession_number": _accession(cik, filed, "periodic"), "form": "10-K" if annual else "10-Q",
         "items": None, "accepted_at": _utc(report), "report_date": period_end,
         "primary_document": f"{slug}-{period_end:%Y%m%d}.htm"},
    ]  # fmt: skip


def _draws(ticker: str, filed: date) -> Iterator[int]:
    """Deterministic integers for one (ticker, report date): independent of the run, the process and the frame."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"sample-filings|{ticker}|{filed.isoformat()}|{counter}".encode()).digest()
        yield int.from_bytes(digest[:8], "big")
        counter += 1


def report_accession(cik: str, filed: date) -> str:
    """The accession number of the sample periodic report ``cik`` filed on ``filed`` (what its XBRL facts cite)."""
    return _accession(normalize_cik(cik), filed, "periodic")


def _accession(cik: str, filed: date, slot: str) -> str:
    sequence = filed.timetuple().tm_yday * 3 + _SLOT[slot]
    return f"{cik}-{filed.year % 100:02d}-{sequence:06d}"


def _utc(new_york: datetime) -> datetime:
    """A New York wall-clock time as naive UTC (EST or EDT, whichever holds on that date)."""
    return new_york.replace(tzinfo=NEW_YORK).astimezone(UTC).replace(tzinfo=None)


def _is_annual(statements: pd.DataFrame) -> bool:
    months = statements["period_months"] if "period_months" in statements else pd.Series(dtype="int64")
    quarters = statements["fiscal_quarter"] if "fiscal_quarter" in statements else pd.Series(dtype="int64")
    return bool((months == 12).any() or (quarters == 4).any())


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value  # a Timestamp is a datetime
