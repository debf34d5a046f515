"""Quarterly (and, for annual-only filers, yearly) statements of every company, in its reporting currency
(``raw.fundamentals``). One row per (ticker, fiscal period, period length, report date): a restatement is a
new row.

``available_at`` (UTC): an SEC fact's filing's EDGAR acceptance time (the accession numbers companyfacts gives
each row, looked up in the company's submissions index), the sample's the acceptance time of the sample filing
that carried it (``flows.sources.sample.filings.report_accepted_at``: the two datasets agree); else -- Yahoo,
a filing missing from the index -- ``report_date`` after the US close. An extraction as of D keeps only the
rows public by the end of D in New York (``flows.availability.public_cutoff``): a later filing, a
restatement included, is not yet known, and the next run picks it up."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from flows.availability import LocalTime, public_by
from flows.datasets.base import (
    Batch,
    CheckContext,
    Column,
    Cursor,
    Dataset,
    ExtractRequest,
    LivePlan,
    Table,
    available_at_column,
)
from flows.datasets.checks import known_by
from flows.datasets.freshness import LatestOnly
from flows.sources.jobs import KeyJob
from flows.sources.sample import generator

# A report known only by its date is public after that day's US close (the after-close rule).
AVAILABILITY = LocalTime("report_date")

TABLE = Table(
    "raw.fundamentals",
    (
        Column("ticker", "varchar", nullable=False),
        Column("fiscal_period_end", "date", nullable=False),
        Column("fiscal_year", "integer", nullable=False),
        Column("fiscal_quarter", "integer", nullable=False),
        Column("report_date", "date", nullable=False),
        Column("currency", "varchar", nullable=False, comment="the reporting currency"),
        Column("revenue", "double"),
        Column("operating_income", "double"),
        Column("net_income", "double"),
        Column("rd_expense", "double"),
        Column("capex", "double", comment="a positive amount spent"),
        Column("shares_outstanding", "double"),
        Column(
            "period_months",
            "integer",
            nullable=False,
            default="3",
            comment="3: fiscal quarter; 12: fiscal year (20-F filers)",
        ),
        Column("source", "varchar", nullable=False),
        available_at_column(AVAILABILITY, "the filing's acceptance time, else report_date after the US close"),
    ),
    keys=("ticker", "fiscal_period_end", "period_months", "report_date"),
    date_column="report_date",
    comment="Quarterly fundamentals in the reporting currency; flow amounts are for the period, not year to date.",
)

# Live: a Yahoo company's window starts this long before its last report (a report revises the year before).
YAHOO_LOOKBACK_DAYS = 400


def _companies(request: ExtractRequest) -> list[str]:
    return [s.ticker for s in request.settings.universe.securities if s.group != "benchmark"]


def extract_sample(request: ExtractRequest) -> Batch:
    settings = request.settings
    starts = request.window_starts(_companies(request), default=request.start or date.min)
    frame = generator.generate_fundamentals(settings.universe, settings.sample, start=starts, end=request.as_of)
    return Batch(
        "fundamentals", "sample", sample_available_at(frame, settings.universe.securities), request.start, request.as_of
    )


def sample_available_at(frame: pd.DataFrame, securities: Any) -> pd.DataFrame:
    """Sample statements with ``available_at``: the acceptance time of the sample filing that carried them (for
    the companies the sample gives SEC filings), else empty for the after-close rule."""
    # imported here: it reads the SEC package, whose client brings httpx -- not for readers of the registry
    from flows.sources.sample import filings

    us_filer = {s.ticker: s.group == filings.US_FILER_GROUP for s in securities if filings.is_filer(s)}
    stamps = [
        filings.report_accepted_at(ticker, us_filer=us_filer[ticker], filed=filed) if ticker in us_filer else None
        for ticker, filed in zip(frame["ticker"], frame["report_date"], strict=True)
    ]
    return frame.assign(available_at=pd.Series(stamps, index=frame.index, dtype="datetime64[us]"))


def plan_live(request: ExtractRequest) -> LivePlan:
    """SEC companyfacts for the US AI leaders with a CIK (when a contact User-Agent is set), else Yahoo's
    fundamentals time series."""
    settings = request.settings
    jobs = []
    for security in [s for s in settings.universe.securities if s.group != "benchmark"]:
        if security.cik and security.group == "us_ai_leader" and settings.live.sec_user_agent.get_secret_value():
            bound = {"ticker": security.ticker, "cik": security.cik, "as_of": request.as_of.isoformat()}
            jobs.append(
                KeyJob(
                    security.ticker,
                    "sec_companyfacts",
                    {**bound, "with_accessions": True},
                    "sec_edgar",
                    "sec_companyfacts",
                    {"cik": security.cik},
                )
            )
            # the filing index, every page: the acceptance time of each filing the facts name
            jobs.append(
                KeyJob(
                    f"{security.ticker}{FILINGS_KEY_SUFFIX}",
                    "sec_acceptances",
                    bound,
                    "sec_edgar",
                    "sec_submissions",
                    {"cik": security.cik, "since": None},
                )
            )
            continue
        (begin,) = request.window_starts(
            [security.ticker], default=settings.sample.start_date, lookback_days=YAHOO_LOOKBACK_DAYS
        ).values()
        jobs.append(
            KeyJob(
                security.ticker,
                "yahoo_timeseries",
                {"ticker": security.ticker, "start": begin.isoformat(), "end": request.as_of.isoformat()},
                "yahoo",
                "yahoo_timeseries",
                {"symbol": security.ticker, "start": begin, "end": request.as_of},
            )
        )
    return LivePlan("sec_edgar+yahoo", jobs)


FILINGS_KEY_SUFFIX = ":filings"  # the key of a company's filing-index job (its acceptance times)
ACCEPTANCE_COLUMNS = ("accession_number", "accepted_at")  # what the filing-index jobs add to the parsed frame


def combine(frame: pd.DataFrame) -> pd.DataFrame:
    """The statements, each SEC row dated by its filings' acceptance times: the filing-index rows (those with an
    ``accepted_at``) give each accession number's time; a row whose filings (``accession_number``, comma
    separated) are all in the index gets the latest of them as ``available_at``; the others get none (the
    after-close rule of ``report_date`` fills it)."""
    if "accepted_at" not in frame.columns:
        return frame.drop(columns=[c for c in ACCEPTANCE_COLUMNS if c in frame.columns])
    is_index = frame["accepted_at"].notna()
    index = frame[is_index]
    accepted = dict(zip(index["accession_number"], pd.to_datetime(index["accepted_at"]), strict=True))
    statements = frame[~is_index].copy()
    listed = statements["accession_number"] if "accession_number" in statements else pd.Series(dtype=object)
    statements["available_at"] = pd.Series(
        [_latest_acceptance(value, accepted) for value in listed], index=statements.index, dtype="datetime64[us]"
    )
    statements = statements.drop(columns=list(ACCEPTANCE_COLUMNS)).reset_index(drop=True)
    # the index rows had no statement columns: integers the concatenation widened to floats come back
    whole = [c.name for c in TABLE.columns if c.type == "integer" and c.name in statements]
    return statements.astype({c: "int64" for c in whole if statements[c].notna().all()})


def _latest_acceptance(accessions: Any, accepted: dict[str, pd.Timestamp]) -> pd.Timestamp | None:
    names = [name for name in str(accessions or "").split(",") if name] if isinstance(accessions, str) else []
    if not names or any(name not in accepted for name in names):
        return None
    return max(accepted[name] for name in names)


def public_rows(frame: pd.DataFrame, settings: Any, as_of: date) -> pd.DataFrame:
    """The rows public by the end of ``as_of`` in New York (every extraction, replays too): ``available_at``
    where known, else the after-close rule of ``report_date``. Later rows are not an error: they are not yet
    known, and the next run picks them up. Rows whose dates cannot be read are kept for validation to reject."""
    if "report_date" not in frame.columns:
        return frame
    filled = AVAILABILITY.fill(frame)
    unreadable = pd.to_datetime(filled["available_at"], errors="coerce").isna()
    return filled[unreadable | public_by(filled["available_at"], as_of)].reset_index(drop=True)


def derive_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    """Public by the end of --as-of (``available_at``), in the company's reporting currency."""
    if not {"ticker", "report_date", "currency"} <= set(frame.columns):
        return {}
    reporting = {s.ticker: s.reporting_currency for s in context.settings.universe.securities}
    return {
        "gx_not_after_as_of": known_by(frame, date_column="report_date", as_of=context.as_of, at_column="available_at"),
        "gx_currency_matches_reporting": [
            reporting.get(ticker) == currency
            for ticker, currency in zip(frame["ticker"], frame["currency"], strict=True)
        ],
    }


DATASET = Dataset(
    name="fundamentals",
    family="fundamentals",
    description="quarterly statements per company (sample, or SEC companyfacts / Yahoo fundamentals)",
    table=TABLE,
    cursor=Cursor("ticker", sample=("sample",), live=("sec_edgar", "yahoo")),
    extract_sample=extract_sample,
    plan_live=plan_live,
    combine=combine,
    prepare=public_rows,
    derive_checks=derive_checks,
    freshness=LatestOnly(column="report_date"),
    availability=AVAILABILITY,
)
