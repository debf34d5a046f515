"""The SEC filing index (``raw.sec_filings``): when each periodic report, earnings release and amendment of a
company filing with the SEC was accepted by EDGAR.

One row per (CIK, accession number): the form (10-Q, 10-K, 20-F, 40-F, 6-K, 8-K and their amendments), the
8-K items, the filing date, the acceptance time in UTC (EDGAR's clock is New York time: see
``flows.sources.sec_edgar.submissions``), the period of report. It dates when results became public.

Sample mode: the filings the sample fundamentals imply (``flows.sources.sample.filings``), ``source =
'sample'``. Live: SEC's ``/submissions/CIK##########.json`` per company with a CIK (a contact User-Agent,
GAPWATCH_SEC_USER_AGENT, is required; without one there are no keys and nothing is extracted).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from flows.datasets.base import Batch, CheckContext, Column, Cursor, Dataset, ExtractRequest, LivePlan, Table
from flows.datasets.checks import known_by, to_timestamps
from flows.datasets.freshness import LatestOnly
from flows.sources.jobs import KeyJob
from flows.sources.sample import generator

TABLE = Table(
    "raw.sec_filings",
    (
        Column("ticker", "varchar", nullable=False),
        Column("cik", "varchar", nullable=False, comment="SEC Central Index Key, 10 digits"),
        Column("accession_number", "varchar", nullable=False, comment="e.g. '0001045810-24-000316'"),
        Column("form", "varchar", nullable=False, comment="10-Q | 10-K | 20-F | 40-F | 6-K | 8-K (and /A)"),
        Column("items", "varchar", comment="8-K items, e.g. '2.02,9.01' (results of operations)"),
        Column("filing_date", "date", nullable=False),
        Column("accepted_at", "timestamp", nullable=False, comment="EDGAR's acceptance time, UTC"),
        Column("report_date", "date", comment="period of report"),
        Column("primary_document", "varchar"),
        Column("source", "varchar", nullable=False, comment="'sample' | 'sec_edgar'"),
    ),
    keys=("cik", "accession_number"),
    date_column="filing_date",
    comment="The SEC filing index of the companies with a CIK: periodic reports, earnings releases, amendments.",
)

# Live: a company's window starts this long before its newest stored filing (late amendments, re-dated filings).
LIVE_LOOKBACK_DAYS = 30


def _filers(request: ExtractRequest) -> list[Any]:
    return [s for s in request.settings.universe.securities if s.cik and s.group != "benchmark"]


def extract_sample(request: ExtractRequest) -> Batch:
    """The sample filings of the sample fundamentals reported in each filer's window."""
    # imported here: it reads the SEC package, whose client brings httpx -- not for readers of the registry
    from flows.sources.sample import filings

    settings = request.settings
    filers = _filers(request)
    starts = request.window_starts([s.ticker for s in filers], default=request.start or date.min)
    reports = generator.generate_fundamentals(
        settings.universe, settings.sample, start=starts, end=request.as_of, tickers=set(starts)
    )
    frame = filings.generate_filings(reports, filers)
    return Batch("sec_filings", "sample", frame, request.start, request.as_of)


def plan_live(request: ExtractRequest) -> LivePlan:
    """One submissions document per filer (plus its older pages from the window start on)."""
    settings = request.settings
    if not settings.live.sec_user_agent.get_secret_value():
        return LivePlan("sec_edgar", [])
    filers = _filers(request)
    starts = request.window_starts(
        [s.ticker for s in filers], default=settings.sample.start_date, lookback_days=LIVE_LOOKBACK_DAYS
    )
    jobs = [
        KeyJob(
            security.ticker,
            "sec_submissions",
            {"ticker": security.ticker, "cik": security.cik, "as_of": request.as_of.isoformat()},
            "sec_edgar",
            "sec_submissions",
            {"cik": security.cik, "since": starts[security.ticker]},
        )
        for security in filers
    ]
    return LivePlan("sec_edgar", jobs)


def derive_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    """Filed and accepted by the end of --as-of in New York, accepted on the filing date or the evening before
    (EDGAR dates a filing accepted after 17:30 New York time the next business day), the CIK the universe gives
    the ticker."""
    if not {"ticker", "cik", "filing_date", "accepted_at"} <= set(frame.columns):
        return {}
    accepted = to_timestamps(frame["accepted_at"])
    accepted_in_new_york = accepted.dt.tz_localize("UTC").dt.tz_convert("America/New_York").dt.tz_localize(None)
    filed = to_timestamps(frame["filing_date"])
    days_before_filing = (filed - accepted_in_new_york.dt.normalize()).dt.days
    ciks = {s.ticker: s.cik for s in context.settings.universe.securities}
    return {
        "gx_not_after_as_of": known_by(frame, date_column="filing_date", as_of=context.as_of, at_column="accepted_at"),
        "gx_accepted_by_filing_date": days_before_filing.between(0, 4).fillna(False).astype(bool),
        "gx_cik_matches_universe": [
            ciks.get(ticker) == cik for ticker, cik in zip(frame["ticker"], frame["cik"], strict=True)
        ],
    }


DATASET = Dataset(
    name="sec_filings",
    family="sec_filings",
    description="the SEC filing index: acceptance times of periodic reports and earnings releases",
    table=TABLE,
    cursor=Cursor("ticker", sample=("sample",), live=("sec_edgar",)),
    extract_sample=extract_sample,
    plan_live=plan_live,
    derive_checks=derive_checks,
    freshness=LatestOnly(column="filing_date"),
    known_at="accepted_at",
)
